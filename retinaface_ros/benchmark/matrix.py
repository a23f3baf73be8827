"""What ``retinaface bench`` measures: the inputs, the runtimes and the score thresholds (no torch, so that
the command's help needs none)."""

INPUTS = {"640x480": ((480, 640), (480, 640)), "1280x720": ((720, 1280), (1024, 1980))}  # (h, w), scales
RUNTIMES = ("reference", "torch", "onnxruntime", "openvino", "torch-fp16")
# CUDA only, not defaults: fp16 without the packed in-graph postprocess; without cuDNN's conv+ReLU fusion;
# with torch.compile (the learner's torch_compile=True).
EXTRA_RUNTIMES = ("torch-fp16-exact", "torch-fp16-unfused", "torch-fp16-compile")
THRESHOLD = 0.8  # the learner's default
REFERENCE_THRESHOLD = 0.02  # detect.py's default
