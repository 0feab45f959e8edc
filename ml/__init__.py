"""Shared ML core of the digit service: data, preprocessing, models, artifacts.

Importing this package is cheap: nothing here imports TensorFlow; only
``ml.training`` and ``ml.export`` do, and only the train side uses them.
"""
