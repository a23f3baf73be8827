"""Privacy: anonymising faces in images (no ROS, no torch).

:func:`anonymize_image` covers boxes (blur | mosaic | solid, ellipse | box, enlarged by ``scale``) and
:class:`FaceCover` decides, frame by frame, which boxes to cover: the detections at the recall-biased
``threshold`` plus, with temporal safety, faces kept through short detector misses.
"""

from retinaface_ros.privacy.anonymizer import (
    METHODS,
    SHAPES,
    AnonymizeConfig,
    anonymize_image,
    cover_regions,
)
from retinaface_ros.privacy.face_cover import FaceCover

__all__ = ["METHODS", "SHAPES", "AnonymizeConfig", "FaceCover", "anonymize_image", "cover_regions"]
