"""An image's size from its file header, without decoding it: refuse a decompression bomb before OpenCV
allocates it. PNG, JPEG, BMP, GIF and WebP; None for other formats (OpenCV's own pixel cap applies there)."""

from __future__ import annotations

import numpy as np

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}  # start-of-frame: carries the size


def declared_size(data: bytes | bytearray | memoryview | np.ndarray) -> tuple[int, int] | None:
    """(width, height) that the header of an encoded image declares; None when the format is not one of
    PNG, JPEG, BMP, GIF, WebP, or the header is unreadable."""
    head = bytes(memoryview(data.reshape(-1) if isinstance(data, np.ndarray) else data)[:65536])
    if head.startswith(_PNG_SIGNATURE):
        return _png_size(head)
    if head.startswith(b"\xff\xd8"):
        return _jpeg_size(data)
    if head.startswith(b"BM") and len(head) >= 26:
        width = int.from_bytes(head[18:22], "little", signed=True)
        height = int.from_bytes(head[22:26], "little", signed=True)
        return abs(width), abs(height)  # a negative height marks a top-down bitmap
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        return int.from_bytes(head[6:8], "little"), int.from_bytes(head[8:10], "little")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp_size(head)
    return None


def _png_size(head: bytes) -> tuple[int, int] | None:
    if head[12:16] != b"IHDR" or len(head) < 24:
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _jpeg_size(data: bytes | bytearray | memoryview | np.ndarray) -> tuple[int, int] | None:
    """Walks the segments before the frame header by their lengths (any number of metadata segments)."""
    view = memoryview(data.reshape(-1) if isinstance(data, np.ndarray) else data).cast("B")
    position = 2
    while position + 4 <= len(view):
        if view[position] != 0xFF:
            return None
        marker = view[position + 1]
        if marker == 0xFF or marker == 0x01 or 0xD0 <= marker <= 0xD8:  # fill byte, standalone markers
            position += 1 if marker == 0xFF else 2
            continue
        if marker == 0xDA:  # start of scan before any frame header: not a valid JPEG
            return None
        if marker in _JPEG_SOF_MARKERS and position + 9 <= len(view):
            height = int.from_bytes(view[position + 5 : position + 7], "big")
            width = int.from_bytes(view[position + 7 : position + 9], "big")
            return width, height
        position += 2 + int.from_bytes(view[position + 2 : position + 4], "big")
    return None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8X" and len(head) >= 30:  # extended: 24-bit width − 1, height − 1
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    if chunk == b"VP8 " and len(head) >= 30:  # lossy: 14-bit sizes after the frame tag and start code
        return int.from_bytes(head[26:28], "little") & 0x3FFF, int.from_bytes(head[28:30], "little") & 0x3FFF
    if chunk == b"VP8L" and len(head) >= 25:  # lossless: 14-bit width − 1, height − 1 after the signature
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    return None
