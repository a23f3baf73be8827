"""OpenDR-style data types: Image, BoundingBox (with 5 landmarks) and BoundingBoxList."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np


class Image:
    """An image stored CHW (OpenDR convention); ``opencv()`` gives HWC BGR.

    ``Image(data)`` takes an HWC BGR array (channels last, 1/3/4 channels) or a CHW array (channels first);
    when both ends could be channels (e.g. a 3×W×3 array) it is taken as HWC. Float data must hold 0..255
    values (rounded and clipped); floats in [0, 1] are refused rather than silently turned black.
    """

    def __init__(self, data: np.ndarray | Image, dtype: type = np.uint8, guess_format: bool = True) -> None:
        if isinstance(data, Image):
            data, guess_format = data.numpy(), False  # already CHW
        if not isinstance(data, np.ndarray):
            raise TypeError(f"Image data must be a numpy array, got {type(data).__name__}")
        if data.ndim == 2:
            data = data[None]
        elif data.ndim != 3:
            raise ValueError(f"Image data must have 2 or 3 dimensions, got shape {data.shape}")
        elif guess_format and data.shape[2] in (1, 3, 4):
            data = np.ascontiguousarray(data.transpose(2, 0, 1))
        self._data = _cast(data, np.dtype(dtype))

    @classmethod
    def open(cls, filename: str | Path) -> Image:
        """Read an image file (any format OpenCV reads) as BGR, through ``io.image_files.read_image``."""
        from retinaface_ros.io.image_files import read_image

        return cls(read_image(filename))

    def numpy(self) -> np.ndarray:
        """The CHW array."""
        return self._data

    def opencv(self) -> np.ndarray:
        """An HWC BGR array (OpenCV layout)."""
        return np.ascontiguousarray(self._data.transpose(1, 2, 0))

    @property
    def data(self) -> np.ndarray:
        return self._data

    @property
    def shape(self) -> tuple[int, ...]:
        return self._data.shape

    def __repr__(self) -> str:
        return f"Image(shape={self._data.shape}, dtype={self._data.dtype})"


def _cast(data: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """``data`` as ``dtype``; float → integer rounds and clips, and refuses NaN and [0, 1] scaled data."""
    if not (np.issubdtype(data.dtype, np.floating) and np.issubdtype(dtype, np.integer)):
        return np.asarray(data, dtype=dtype)
    if data.size and not np.isfinite(data).all():
        raise ValueError("Image data holds NaN or infinite values")
    if data.size and 0.0 < data.max() <= 1.0:
        raise ValueError(
            "Image got float data in [0, 1], which would become all black as "
            f"{dtype.name}: scale it to 0..255 first (e.g. (data * 255).round().astype(np.uint8))"
        )
    limits = np.iinfo(dtype)
    return np.clip(np.rint(data), limits.min, limits.max).astype(dtype)


class BoundingBox:
    """An axis-aligned box (left, top, width, height) in image pixels with a score and optional landmarks.

    ``name`` is the class index (0 face, 1 masked_face); ``landmarks`` is a 5×2 array (left eye, right eye,
    nose, left mouth corner, right mouth corner) in image pixels, or None.
    """

    def __init__(
        self,
        name: int | str,
        left: float,
        top: float,
        width: float,
        height: float,
        score: float = 0.0,
        landmarks: np.ndarray | None = None,
    ) -> None:
        self.name = name
        self.left = float(left)
        self.top = float(top)
        self.width = float(width)
        self.height = float(height)
        self.confidence = float(score)
        self.landmarks = None if landmarks is None else np.asarray(landmarks, dtype=np.float32).reshape(5, 2)

    def xyxy(self) -> np.ndarray:
        """The box as (x1, y1, x2, y2)."""
        return np.array(
            [self.left, self.top, self.left + self.width, self.top + self.height], dtype=np.float32
        )

    def coco(self) -> dict:
        return {
            "bbox": [self.left, self.top, self.width, self.height],
            "category_id": self.name,
            "score": self.confidence,
        }

    def to_dict(self) -> dict:
        """JSON-friendly description (box, score, class, landmarks)."""
        return {
            "class_id": self.name,
            "score": self.confidence,
            "box_xywh": [self.left, self.top, self.width, self.height],
            "landmarks": None if self.landmarks is None else self.landmarks.tolist(),
        }

    def __repr__(self) -> str:
        return (
            f"BoundingBox(name={self.name}, left={self.left:.1f}, top={self.top:.1f}, "
            f"width={self.width:.1f}, "
            f"height={self.height:.1f}, confidence={self.confidence:.3f})"
        )


class BoundingBoxList:
    """A list of BoundingBox (``.data``), indexable and iterable."""

    def __init__(self, boxes: Iterable[BoundingBox] = ()) -> None:
        self.data: list[BoundingBox] = list(boxes)

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self) -> Iterator[BoundingBox]:
        return iter(self.data)

    def __getitem__(self, index: int) -> BoundingBox:
        return self.data[index]

    @property
    def boxes(self) -> list[BoundingBox]:
        return self.data

    def __repr__(self) -> str:
        return f"BoundingBoxList({len(self.data)} boxes)"
