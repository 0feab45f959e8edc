"""The train function: a training run as the service makes it (``runs``) and its routes (``app``)."""
