"""The README's Python snippets run as printed (with ``../shared`` pointed at the shared data) and write their
files only where they say: the learner snippet under its temporary folder, including the fine-tuned model."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
from conftest import REPO_ROOT, shared_dir
from ros_helpers import PYTHON

SNIPPETS = re.findall(r"```python\n(.*?)```", (REPO_ROOT / "README.md").read_text(), flags=re.S)


def snippet(first_line: str) -> str:
    found = [code for code in SNIPPETS if code.splitlines()[0] == first_line]
    assert len(found) == 1, f"README: no single python block starting with {first_line!r}"
    return found[0]


def run_snippet(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run ``code`` in the empty folder ``tmp_path/cwd`` with TMPDIR ``tmp_path/tmp``."""
    if not shared_dir().is_dir():
        pytest.skip(f"shared data missing: {shared_dir()}")
    for name in ("cwd", "tmp"):
        (tmp_path / name).mkdir()
    env = {
        **os.environ,
        "TMPDIR": str(tmp_path / "tmp"),
        "PYTHONPATH": os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    code = code.replace("../shared/", f"{shared_dir()}/")
    return subprocess.run(
        [PYTHON, "-c", code], cwd=tmp_path / "cwd", env=env, capture_output=True, text=True, timeout=3600
    )


def test_quick_start_library_lines(tmp_path):
    code = snippet("from retinaface_ros import Image, RetinaFaceLearner, draw_bounding_boxes")
    assert len(code.strip().splitlines()) == 5
    done = run_snippet(
        code + "assert annotated.shape == image.shape[::-1] or annotated.ndim == 3\n", tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert not any((tmp_path / "cwd").iterdir())  # writes nothing


@pytest.mark.slow
def test_learner_api_snippet_saves_the_fine_tuned_model_in_its_temporary_folder(tmp_path):
    done = run_snippet(snippet("import tempfile"), tmp_path)
    assert done.returncode == 0, done.stderr
    assert not any((tmp_path / "cwd").iterdir())  # no models/ or checkpoints/ in the working folder
    (work,) = (tmp_path / "tmp").glob("retinaface_*")
    assert (work / "my_mnet" / "my_mnet.pth").is_file() and (work / "my_mnet" / "my_mnet.json").is_file()
    assert (work / "my_mnet_onnx" / "my_mnet_onnx.onnx").is_file()
