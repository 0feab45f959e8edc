"""The Open Inference Protocol (KServe v2, Triton HTTP) on the predict function."""
