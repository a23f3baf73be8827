"""What ``retinaface bench`` measures: the inputs, the runtimes and the score thresholds (no torch, so that
the command's help needs none)."""

INPUTS = {"640x480": ((480, 640), (480, 640)), "1280x720": ((720, 1280), (1024, 1980))}  # (h, w), scales
RUNTIMES = ("reference", "torch", "onnxruntime", "torch-fp16")
EXTRA_RUNTIMES = ("torch-fp16-exact",)  # CUDA, fp16 without the packed in-graph postprocess (not a default)
THRESHOLD = 0.8  # the learner's default
REFERENCE_THRESHOLD = 0.02  # detect.py's default
