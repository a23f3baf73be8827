"""Runtimes that run the network: tensors in, head outputs out (PyTorch, onnxruntime)."""
