"""Checksummed downloads against a real local HTTP server that mirrors shared/ files."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import shared_dir, shared_path

from retinaface_ros import Image, RetinaFaceLearner
from retinaface_ros.io.atomic_files import TEMP_MARKER
from retinaface_ros.io.download import MODES, DownloadError, download, read_manifest

PRETRAINED = "detection_mobilenet0.25_Final.pth"


class Mirror(http.server.ThreadingHTTPServer):
    """Routes: /good/<name> (the mirror), /wrong/<name> (one byte flipped), /short/<name> (truncated body)."""

    def __init__(self, files: dict[str, Path]) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.files = files
        self.requests: list[str] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(http.server.BaseHTTPRequestHandler):
    server: Mirror

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        self.server.requests.append(self.path)
        route, _, name = self.path.lstrip("/").partition("/")
        file = self.server.files.get(name)
        if file is None or route not in ("good", "wrong", "short"):
            self.send_error(404)
            return
        body = file.read_bytes()
        if route == "wrong":  # same size, different content: only the sha256 can tell
            body = body[:-1] + bytes([body[-1] ^ 1])
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 3] if route == "short" else body)
        if route == "short":
            self.close_connection = True


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> Iterator[Mirror]:
    mini = shared_path("data", "mini_wider")
    files = {
        PRETRAINED: shared_path("models", "mobilenet0.25_Final.pth"),
        "mobilenetV1X0.25_pretrain.tar": shared_path("models", "mobilenetV1X0.25_pretrain.tar"),
        "sample.jpg": shared_path("images", "selfie.jpg"),
    }
    manifest = tmp_path_factory.mktemp("mirror") / "SHA256SUMS"
    lines = []
    for file in sorted(p for p in mini.rglob("*") if p.is_file()):
        name = file.relative_to(mini).as_posix()
        files[f"mini_wider/{name}"] = file
        lines.append(f"{hashlib.sha256(file.read_bytes()).hexdigest()}  {name}")
    manifest.write_text("\n".join(lines) + "\n")
    files["mini_wider/SHA256SUMS"] = manifest
    server = Mirror(files)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def leftovers(folder: Path) -> list[str]:
    """Temp files of atomic_output left behind (``.<name>.tmp-<random>``)."""
    return sorted(p.name for p in folder.rglob("*") if TEMP_MARKER in p.name)


def test_pretrained_verified_then_skipped(mirror: Mirror, tmp_path: Path) -> None:
    path = download("mnet", path=tmp_path, url=f"{mirror.base}/good", verbose=True)
    assert path == tmp_path / PRETRAINED
    assert hashlib.sha256(path.read_bytes()).hexdigest().startswith("38ec7bb3")
    count = len(mirror.requests)
    assert download("mnet", path=tmp_path, url=f"{mirror.base}/good", verbose=False) == path
    assert len(mirror.requests) == count, "a verified file was fetched again"
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("route", "error", "message"),
    [
        ("missing", DownloadError, "HTTP 404"),
        ("short", DownloadError, "truncated"),
        ("wrong", ValueError, "sha256"),
    ],
)
def test_failures_leave_nothing(
    mirror: Mirror, tmp_path: Path, route: str, error: type, message: str
) -> None:
    with pytest.raises(error, match=message) as caught:
        download("mnet", path=tmp_path, url=f"{mirror.base}/{route}", verbose=False)
    if error is DownloadError:
        assert f"{mirror.base}/{route}/{PRETRAINED}" in str(caught.value)
    assert list(tmp_path.iterdir()) == []


def test_file_url_and_env_override(tmp_path: Path, monkeypatch) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "mobilenetV1X0.25_pretrain.tar").symlink_to(
        shared_path("models", "mobilenetV1X0.25_pretrain.tar")
    )
    (mirror / "sample.jpg").symlink_to(shared_path("images", "selfie.jpg"))
    out = tmp_path / "out"
    path = download("mnet", path=out, mode="backbone", url=mirror.as_uri(), verbose=False)
    assert path.read_bytes() == (mirror / "mobilenetV1X0.25_pretrain.tar").read_bytes()
    monkeypatch.setenv("RETINAFACE_DOWNLOAD_URL", mirror.as_uri())
    monkeypatch.setenv("RETINAFACE_CACHE", str(tmp_path / "cache"))
    image = download("mnet", mode="images", verbose=False)
    assert image == tmp_path / "cache" / "sample.jpg" and Image.open(image).shape[0] == 3


def test_test_data_manifest(mirror: Mirror, tmp_path: Path) -> None:
    root = download("mnet", path=tmp_path, mode="test_data", url=f"{mirror.base}/good", verbose=False)
    assert root == tmp_path / "mini_wider"
    expected = sorted(
        p.relative_to(shared_dir() / "data" / "mini_wider").as_posix()
        for p in (shared_dir() / "data" / "mini_wider").rglob("*")
        if p.is_file()
    )
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == sorted(
        [*expected, "SHA256SUMS"]
    )
    bad = tmp_path / "bad.txt"
    bad.write_text(f"{'0' * 64}  ../escape.jpg\n")
    with pytest.raises(ValueError, match="relative path"):
        read_manifest(bad)


def test_bad_requests_fail_fast(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("RETINAFACE_DOWNLOAD_URL", raising=False)
    with pytest.raises(ValueError, match="pretrained") as caught:
        download("mnet", path=tmp_path, mode="weights")
    assert all(mode in str(caught.value) for mode in MODES)
    with pytest.raises(ValueError, match="no public URL"):
        download("mnet", path=tmp_path, mode="annotations", verbose=False)
    with pytest.raises(ValueError, match="scheme"):
        download("mnet", path=tmp_path, url="ftp://example.invalid/x", verbose=False)
    (tmp_path / "a_file").write_text("")
    with pytest.raises(ValueError, match="is a file"):
        download("mnet", path=tmp_path / "a_file", verbose=False)
    assert leftovers(tmp_path) == []


def test_learner_download_then_load_detects_faces(mirror: Mirror, tmp_path: Path, selfie_path) -> None:
    learner = RetinaFaceLearner(backbone="mnet", device="cpu")
    path = learner.download(path=tmp_path, mode="pretrained", url=f"{mirror.base}/good", verbose=False)
    learner.load(path, verbose=False)
    assert len(learner.infer(Image.open(selfie_path), threshold=0.5, scales=[480, 860])) > 50


def test_invalid_manifest_is_never_cached(tmp_path: Path) -> None:
    mirror = tmp_path / "mirror" / "mini_wider"
    mirror.mkdir(parents=True)
    (mirror / "a.txt").write_text("hello\n")
    manifest = mirror / "SHA256SUMS"
    manifest.write_text(f"{'0' * 64}  ../../evil\n")
    cache = tmp_path / "cache"
    url = mirror.parent.as_uri()
    with pytest.raises(ValueError, match="relative path"):
        download("mnet", path=cache, mode="test_data", url=url, verbose=False)
    assert not (cache / "mini_wider" / "SHA256SUMS").exists() and leftovers(tmp_path) == []
    (cache / "mini_wider").mkdir(parents=True, exist_ok=True)
    (cache / "mini_wider" / "SHA256SUMS").write_text("not a manifest\n")  # e.g. cached by an older version
    digest = hashlib.sha256(b"hello\n").hexdigest()
    manifest.write_text(f"{digest}  a.txt\n")
    root = download("mnet", path=cache, mode="test_data", url=url, verbose=False)
    assert (root / "SHA256SUMS").read_text() == manifest.read_text()  # the bad cached copy was replaced
    assert (root / "a.txt").read_text() == "hello\n"
