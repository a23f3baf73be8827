"""Small recordings built in tests from the shared images: rosbag2 bags (rosbags; raw, compressed and a
non-image topic) and videos (PyAV, with an audio track)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

RAW_TOPIC = "/cam/image_raw"
COMPRESSED_TOPIC = "/cam/image_raw/compressed"
OTHER_TOPIC = "/chatter"
SCALES = [480, 640]  # detector resize for the test frames: their own size (fast on the CPU)


def panning_frames(image_path: Path, count: int, width: int = 640, pan_px: int = 8) -> list[np.ndarray]:
    """``count`` BGR ``width``×480 windows of ``image_path`` (scaled), panning ``pan_px`` a frame."""
    image = cv2.imread(str(image_path))
    scale = (width + pan_px * count) / image.shape[1]
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    top = max(0, (image.shape[0] - 480) // 2)
    return [
        np.ascontiguousarray(image[top : top + 480, i * pan_px : i * pan_px + width]) for i in range(count)
    ]


def qos_profile():  # noqa: ANN201
    from rosbags.interfaces import Qos, QosDurability, QosHistory, QosLiveliness, QosReliability, QosTime

    never = QosTime(0, 0)
    return Qos(
        QosHistory.KEEP_LAST,
        5,
        QosReliability.BEST_EFFORT,
        QosDurability.VOLATILE,
        never,
        never,
        QosLiveliness.AUTOMATIC,
        never,
        False,
    )


def write_bag(
    path: Path, frames: list[np.ndarray], storage: str = "mcap", raw_encoding: str = "rgb8"
) -> dict:
    """A bag with each frame on RAW_TOPIC (``raw_encoding``) and COMPRESSED_TOPIC (JPEG), and a String on
    OTHER_TOPIC between them; header stamps differ from receive times. Returns the typestore and stamps."""
    from rosbags.rosbag2 import Writer
    from rosbags.rosbag2.enums import StoragePlugin
    from rosbags.typesys import Stores, get_typestore

    typestore = get_typestore(Stores.LATEST)
    Image = typestore.types["sensor_msgs/msg/Image"]
    CompressedImage = typestore.types["sensor_msgs/msg/CompressedImage"]
    Header = typestore.types["std_msgs/msg/Header"]
    Time = typestore.types["builtin_interfaces/msg/Time"]
    String = typestore.types["std_msgs/msg/String"]
    with Writer(path, version=9, storage_plugin=StoragePlugin[storage.upper()]) as writer:
        raw = writer.add_connection(
            RAW_TOPIC, Image.__msgtype__, typestore=typestore, offered_qos_profiles=[qos_profile()]
        )
        compressed = writer.add_connection(COMPRESSED_TOPIC, CompressedImage.__msgtype__, typestore=typestore)
        other = writer.add_connection(OTHER_TOPIC, String.__msgtype__, typestore=typestore)
        for i, frame in enumerate(frames):
            receive = 1_000_000_000 + i * 100_000_000
            header = Header(stamp=Time(sec=100 + i, nanosec=1234 + i), frame_id="camera")
            pixels = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB) if raw_encoding == "rgb8" else frame
            channels = 1 if pixels.ndim == 2 else pixels.shape[2]
            msg = Image(
                header=header,
                height=frame.shape[0],
                width=frame.shape[1],
                encoding=raw_encoding,
                is_bigendian=0,
                step=frame.shape[1] * channels * pixels.itemsize,
                data=pixels.reshape(-1).view(np.uint8),
            )
            writer.write(raw, receive, typestore.serialize_cdr(msg, Image.__msgtype__))
            jpeg = cv2.imencode(".jpg", frame)[1].reshape(-1)
            writer.write(
                compressed,
                receive + 1000,
                typestore.serialize_cdr(
                    CompressedImage(header=header, format="jpeg", data=jpeg), CompressedImage.__msgtype__
                ),
            )
            writer.write(
                other, receive + 2000, typestore.serialize_cdr(String(data=f"hello {i}"), String.__msgtype__)
            )
    return {"typestore": typestore}


def read_bag(path: Path) -> list[tuple[str, str, int, bytes]]:
    """(topic, type, receive timestamp, raw bytes) of every message, in order."""
    from rosbags.rosbag2 import Reader

    with Reader(path) as reader:
        return [(c.topic, c.msgtype, t, bytes(raw)) for c, t, raw in reader.messages()]


def bag_connections(path: Path) -> dict[str, tuple]:
    from rosbags.rosbag2 import Reader

    with Reader(path) as reader:
        return {
            c.topic: (c.msgtype, c.ext.serialization_format, c.ext.offered_qos_profiles)
            for c in reader.connections
        }


def write_video(path: Path, frames: list[np.ndarray], fps: int = 10, audio: bool = True) -> None:
    """An H.264 (mp4) or MPEG-4 video of ``frames`` with a mono AAC tone track when ``audio``."""
    import av

    with av.open(str(path), "w") as container:
        video = container.add_stream("libx264" if path.suffix == ".mp4" else "mpeg4", rate=fps)
        video.width, video.height = frames[0].shape[1], frames[0].shape[0]
        video.pix_fmt = "yuv420p"
        sound = container.add_stream("aac", rate=16000) if audio else None
        if sound is not None:
            sound.layout = "mono"
        for i, frame in enumerate(frames):
            out = av.VideoFrame.from_ndarray(frame, format="bgr24")
            out.pts, out.time_base = i, Fraction(1, fps)
            for packet in video.encode(out):
                container.mux(packet)
        for packet in video.encode(None):
            container.mux(packet)
        if sound is not None:
            samples = 16000 * len(frames) // fps
            tone = (0.2 * np.sin(np.arange(samples) * 2 * np.pi * 440 / 16000)).astype(np.float32)
            for start in range(0, samples, 1024):
                chunk = tone[start : start + 1024][None, :]
                aframe = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
                aframe.sample_rate, aframe.pts = 16000, start
                for packet in sound.encode(aframe):
                    container.mux(packet)
            for packet in sound.encode(None):
                container.mux(packet)
