"""Rewrite a video frame by frame with PyAV: same container, codec (where an encoder exists), frame rate,
size and timestamps; audio streams copied packet for packet."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np

from retinaface_ros.recording.image_files import UnreadableInputError

VIDEO_SUFFIXES = frozenset({".mp4", ".mkv", ".avi", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts", ".flv"})
FALLBACK_ENCODERS = ("libx264", "mpeg4")
# Per-encoder quality: visually lossless-ish outside the covered faces.
_ENCODER_OPTIONS = {"libx264": {"crf": "18", "preset": "medium"}, "h264": {"crf": "18"}}

# frames (BGR uint8) and their times in seconds → the frames to write (same sizes)
FrameBatchFn = Callable[[Sequence[np.ndarray], Sequence[float]], Sequence[np.ndarray]]


def is_video_file(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def _open_input(path: Path):  # noqa: ANN202 - av.container.InputContainer
    import av

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError) as error:
        raise UnreadableInputError(f"{path}: not a readable video ({error})") from None
    if not container.streams.video:
        container.close()
        raise UnreadableInputError(f"{path}: no video stream")
    return container


def _add_video_stream(output, source):  # noqa: ANN001, ANN202 - PyAV streams
    """An output stream like ``source``: its codec if an encoder exists, else the first fallback."""
    import av

    rate = source.average_rate or source.guessed_rate or Fraction(30)
    names = [source.codec_context.name, *FALLBACK_ENCODERS]
    last_error: Exception | None = None
    for name in dict.fromkeys(names):
        try:
            stream = output.add_stream(name, rate=rate, options=_ENCODER_OPTIONS.get(name, {}))
        except (av.FFmpegError, ValueError) as error:
            last_error = error
            continue
        stream.width, stream.height = source.codec_context.width, source.codec_context.height
        formats = [f.name for f in (stream.codec_context.codec.video_formats or ())]
        source_format = source.codec_context.pix_fmt
        stream.pix_fmt = source_format if source_format in formats else (formats[0] if formats else "yuv420p")
        stream.time_base = source.time_base
        if source.codec_context.bit_rate and name not in _ENCODER_OPTIONS:
            stream.bit_rate = source.codec_context.bit_rate
        return stream
    raise UnreadableInputError(f"no encoder for {names}: {last_error}")


def rewrite_video(
    source: Path,
    target: Path,
    process: FrameBatchFn,
    batch_size: int = 8,
    on_frames: Callable[[int], None] = None,
) -> dict:
    """Decode ``source``, pass frames through ``process`` in batches and encode them to ``target``.

    Returns {"frames", "codec", "source_codec", "fps", "audio_streams"}. A frame that cannot be decoded raises
    :class:`UnreadableInputError` naming the file and the frame index.
    """
    import av

    source_container = _open_input(source)
    try:
        video_in = source_container.streams.video[0]
        video_in.thread_type = "AUTO"
        audio_in = list(source_container.streams.audio)
        with av.open(str(target), "w") as output:
            video_out = _add_video_stream(output, video_in)
            audio_out = {s.index: output.add_stream_from_template(s) for s in audio_in}
            pending: list = []
            count = 0

            def flush() -> None:
                images = [frame.to_ndarray(format="bgr24") for frame in pending]
                covered = process(images, [float(frame.time or 0.0) for frame in pending])
                for frame, image in zip(pending, covered, strict=True):
                    new = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="bgr24")
                    new.pts, new.time_base = frame.pts, frame.time_base
                    for packet in video_out.encode(new):
                        output.mux(packet)
                if on_frames is not None:
                    on_frames(len(pending))
                pending.clear()

            try:
                for packet in source_container.demux(video_in, *audio_in):
                    if packet.stream.type == "audio":
                        if packet.dts is not None:
                            packet.stream = audio_out[packet.stream.index]
                            output.mux(packet)
                        continue
                    for frame in packet.decode():
                        pending.append(frame)
                        count += 1
                        if len(pending) >= batch_size:
                            flush()
            except av.FFmpegError as error:
                raise UnreadableInputError(f"{source}: frame {count}: cannot decode ({error})") from None
            flush()
            for packet in video_out.encode(None):
                output.mux(packet)
        if count == 0:
            raise UnreadableInputError(f"{source}: no decodable video frame")
        return {
            "frames": count,
            "codec": video_out.codec_context.name,
            "source_codec": video_in.codec_context.name,
            "fps": float(video_out.average_rate or video_in.average_rate or 0),
            "audio_streams": len(audio_in),
        }
    finally:
        source_container.close()
