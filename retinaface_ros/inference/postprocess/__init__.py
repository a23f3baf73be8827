"""Head outputs → detections: the fixed-shape batch postprocess for CUDA graphs (:mod:`.packed`)."""
