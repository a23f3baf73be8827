"""The hri_msgs / tf2_msgs the environment provides (bundled copies under tools/ where it had none) have
upstream's fields and types, so REP 155 consumers and tf2 listeners read our messages."""

from __future__ import annotations

import pytest

hri = pytest.importorskip("hri_msgs.msg", reason="hri_msgs missing: run `make setup`")
tf2 = pytest.importorskip("tf2_msgs.msg", reason="tf2_msgs missing: run `make setup`")

UPSTREAM = {  # hri_msgs 2.x / ros2 geometry2 tf2_msgs, field → type (rosidl's spelling)
    hri.IdsList: {"header": "std_msgs/Header", "ids": "sequence<string>"},
    hri.NormalizedRegionOfInterest2D: {
        "header": "std_msgs/Header",
        **dict.fromkeys(("xmin", "ymin", "xmax", "ymax", "c"), "float"),
    },
    hri.NormalizedPointOfInterest2D: dict.fromkeys(("x", "y", "c"), "float"),
    hri.FacialLandmarks: {
        "header": "std_msgs/Header",
        "landmarks": "hri_msgs/NormalizedPointOfInterest2D[70]",
        "height": "uint32",
        "width": "uint32",
    },
    hri.IdsMatch: {
        "id1": "string",
        "id1_type": "int8",
        "id2": "string",
        "id2_type": "int8",
        "confidence": "float",
    },
    hri.SoftBiometrics: {
        "header": "std_msgs/Header",
        "age": "uint8",
        "age_confidence": "float",
        "gender": "uint8",
        "gender_confidence": "float",
    },
    hri.Gesture: {"header": "std_msgs/Header", "gesture": "uint8", "handedness": "uint8"},
    hri.LiveSpeech: {
        "header": "std_msgs/Header",
        "incremental": "string",
        "final": "string",
        "confidence": "double",
        "locale": "string",
    },
    tf2.TFMessage: {"transforms": "sequence<geometry_msgs/TransformStamped>"},
}


@pytest.mark.parametrize("msg_type", list(UPSTREAM), ids=lambda t: t.__name__)
def test_fields_match_upstream(msg_type):
    assert msg_type.get_fields_and_field_types() == UPSTREAM[msg_type]


def test_all_upstream_messages_and_landmark_codes_exist():
    names = [
        "AudioFeatures",
        "BodyPosture",
        "EngagementLevel",
        "Expression",
        "FacialActionUnits",
        "FacialLandmarks",
        "Gaze",
        "Gesture",
        "Group",
        "IdsList",
        "IdsMatch",
        "LiveSpeech",
        "NormalizedPointOfInterest2D",
        "NormalizedPointOfInterest2DStamped",
        "NormalizedRegionOfInterest2D",
        "Skeleton2D",
        "SoftBiometrics",
    ]
    assert all(hasattr(hri, name) for name in names)
    codes = hri.FacialLandmarks
    assert (
        codes.RIGHT_PUPIL,
        codes.LEFT_PUPIL,
        codes.NOSE,
        codes.MOUTH_OUTER_RIGHT,
        codes.MOUTH_OUTER_LEFT,
    ) == (
        68,
        69,
        30,
        48,
        54,
    )
    assert len(hri.FacialActionUnits().intensity) == 99 and len(hri.Skeleton2D().skeleton) == 18
