"""``retinaface bench``: timing tables for the inference fast paths against a port of the public pipeline."""
