"""The Train goal's fields as one table: types, help and parsing shared by ``retinaface train`` (a local
``fit``) and ``retinaface train-goal`` (the action client), so the two take the same options and YAML files.

No ROS, no torch: values are checked for type and range here; what they mean is checked by
:func:`retinaface_ros.training.goal.goal_to_job` (the trainer node uses the same function).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INT32 = (-(2**31), 2**31 - 1)
FLOAT32_MAX = 3.4028234663852886e38


@dataclass(frozen=True)
class GoalField:
    """One field of ``retinaface_interfaces/action/Train``'s goal."""

    name: str
    kind: type  # str, bool, int or float
    help: str
    path: bool = False  # a file or folder: relative values are made absolute (the trainer has another cwd)


# In the order of Train.action; the help texts say what "empty" / 0 means, as the action does.
GOAL_FIELDS: tuple[GoalField, ...] = (
    GoalField("dataset_root", str, "training set in WIDER FACE layout (WIDER_train/...)", path=True),
    GoalField(
        "val_dataset_root", str, "validation set (WIDER_val/, else WIDER_train/); '' = none", path=True
    ),
    GoalField("backbone", str, "mobilenet0.25 / mnet or resnet50 / resnet ('' = mnet)"),
    GoalField("pretrained_model", str, "weights to start from: model or ImageNet backbone", path=True),
    GoalField("from_scratch", bool, "ignore pretrained_model, start from random weights"),
    GoalField("epochs", int, "epochs to train (0 = 100)"),
    GoalField("batch_size", int, "images per batch (0 = 2)"),
    GoalField("lr", float, "initial learning rate (0 = 0.001)"),
    GoalField("lr_steps", str, "comma-separated epochs where the lr is divided by 10, e.g. '190,220'"),
    GoalField("flip", bool, "add a mirrored copy of every training image"),
    GoalField("checkpoint_after_iter", int, "checkpoint every this many epochs (0 = every epoch)"),
    GoalField(
        "checkpoint_load_iter", int, "resume at this epoch from output_path's checkpoints (0 = afresh)"
    ),
    GoalField("val_after", int, "validate every this many epochs (0 = every epoch with a validation set)"),
    GoalField("device", str, "cpu, cuda or cuda:N ('' = the trainer's default)"),
    GoalField(
        "output_path", str, "folder for checkpoints, the model and logs ('' = a new run folder)", path=True
    ),
)
FIELDS_BY_NAME = {field.name: field for field in GOAL_FIELDS}
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def defaults() -> dict[str, Any]:
    """Every field at its 'use the trainer's default' value (empty string, False, 0)."""
    return {field.name: field.kind() for field in GOAL_FIELDS}


def convert(name: str, value: Any, where: str = "") -> Any:
    """``value`` (a string from the command line, or a YAML scalar) as field ``name``'s type, checked; errors
    are one ``ValueError`` line naming the field (and ``where`` it came from)."""
    origin = f" ({where})" if where else ""
    field = FIELDS_BY_NAME.get(name)
    if field is None:
        raise ValueError(f"unknown goal field {name!r}{origin}; fields: {', '.join(FIELDS_BY_NAME)}")
    bad = f"{name}{origin}: expected {_kind_name(field.kind)}, got {value!r}"
    if field.kind is str:
        if isinstance(value, (dict, list, bool)) or value is None:
            raise ValueError(bad)
        text = str(value)
        if field.path and text.strip() and not text.startswith("~"):
            text = str(Path(text).absolute())
        return text
    if field.kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise ValueError(bad)
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(bad)
    if field.kind is int:
        try:
            number = int(value) if not isinstance(value, float) or value.is_integer() else None
        except ValueError:
            number = None
        if number is None:
            raise ValueError(bad)
        if not INT32[0] <= number <= INT32[1]:
            raise ValueError(f"{name}{origin}: {number} does not fit the goal's int32")
        return number
    try:
        number = float(value)
    except ValueError:
        raise ValueError(bad) from None
    if not math.isfinite(number) or abs(number) > FLOAT32_MAX:
        raise ValueError(f"{name}{origin}: must be a finite float32, got {value!r}")
    return number


def _kind_name(kind: type) -> str:
    return {str: "a string", bool: "true or false", int: "an integer", float: "a number"}[kind]


def parse_params(params: Iterable[str]) -> dict[str, Any]:
    """``['epochs=3', 'lr=1e-3', ...]`` → ``{'epochs': 3, 'lr': 0.001}`` (``--param`` values)."""
    values: dict[str, Any] = {}
    for param in params:
        name, sep, value = param.partition("=")
        if not sep:
            raise ValueError(f"--param {param!r}: expected NAME=VALUE, e.g. epochs=10")
        values[name.strip()] = convert(name.strip(), value.strip(), "--param")
    return values


def load_yaml(path: str | Path) -> dict[str, Any]:
    """A goal from a YAML mapping of field names to values (as ``ros2 action send_goal`` takes it)."""
    import yaml

    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"goal file not found: {path}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ValueError(f"{path}: not a readable YAML goal ({str(error).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise ValueError(f"{path}: expected a mapping of goal fields, got {type(data).__name__}")
    return {str(name): convert(str(name), value, str(path)) for name, value in data.items()}


def add_arguments(parser: argparse.ArgumentParser, skip: Iterable[str] = ()) -> None:
    """One ``--field-name`` option per goal field (``skip`` those the command takes otherwise); values are
    converted by :func:`convert`, unset options stay ``None`` (see :func:`from_arguments`)."""
    group = parser.add_argument_group("training options (the Train goal's fields)")
    for field in GOAL_FIELDS:
        if field.name in skip:
            continue
        flag = "--" + field.name.replace("_", "-")
        if field.kind is bool:
            group.add_argument(flag, action="store_const", const=True, default=None, help=field.help)
        else:
            metavar = {str: "PATH" if field.path else "TEXT", int: "N", float: "X"}[field.kind]
            group.add_argument(flag, default=None, metavar=metavar, help=field.help)


def from_arguments(args: argparse.Namespace) -> dict[str, Any]:
    """The goal fields given on the command line (by :func:`add_arguments`' options), converted."""
    values = {}
    for field in GOAL_FIELDS:
        value = getattr(args, field.name, None)
        if value is not None:
            flag = "--" + field.name.replace("_", "-")
            values[field.name] = convert(field.name, value, flag)
    return values
