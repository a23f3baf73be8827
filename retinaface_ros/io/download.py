"""Checksummed downloads of RetinaFace weights, ImageNet backbones, sample images, labels and test data.

Every file is fetched into a temporary file next to its destination, verified (sha256 where it is known,
otherwise a content check such as "loads as a weights-only state dict of the right backbone") and only then
moved into place with ``os.replace``. Files that are already present and verify are not fetched again.

A mirror is a base URL (``url=`` or ``$RETINAFACE_DOWNLOAD_URL``) under which the relative names of
:data:`RESOURCES` are served; ``http(s)://`` and ``file://`` bases work.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from retinaface_ros.io.atomic_files import atomic_output
from retinaface_ros.model import BACKBONES

MODES = ("pretrained", "images", "backbone", "annotations", "test_data")
TIMEOUT_S = 30.0
_CHUNK = 1 << 20


class DownloadError(ConnectionError):
    """A transfer failed (HTTP status, short body, timeout, no route); the message names the URL."""


_FACEXLIB = "https://github.com/xinntao/facexlib/releases/download/v0.1.0/"
_M2MAN = "https://github.com/m2man/Pytorch_Retinaface/raw/HEAD/weights/"
_TORCHVISION = "https://download.pytorch.org/models/"


@dataclass(frozen=True)
class Resource:
    """One downloadable file: its relative name (also its name under a mirror base) and how to verify it.

    ``base`` is its known public home (None: no public home known, a mirror is needed); ``sha256`` / ``size``
    are None where not known, and then ``check`` (if any) is what vouches for the content.
    """

    name: str
    base: str | None
    sha256: str | None = None
    size: int | None = None
    sha256_prefix: str | None = None  # e.g. torchvision's hash in the file name
    check: str | None = None  # 'state_dict:<backbone>' | 'checkpoint' | 'image' | 'text' | 'manifest'


# (mode, backbone or '*') -> files. sha256 values are those published / measured on the public files;
# None means "not known here" (never guessed).
RESOURCES: dict[tuple[str, str], tuple[Resource, ...]] = {
    ("pretrained", "mnet"): (
        Resource(
            "detection_mobilenet0.25_Final.pth",
            _FACEXLIB,
            sha256="38ec7bb3c9cbfe2f40edabc05fab970a6d648747cbc534092be85d5eb9b37ed0",
            size=1_789_735,
            check="state_dict:mnet",
        ),
    ),
    ("pretrained", "resnet"): (
        Resource("detection_Resnet50_Final.pth", _FACEXLIB, check="state_dict:resnet"),  # sha256 unknown
    ),
    ("backbone", "mnet"): (
        Resource(
            "mobilenetV1X0.25_pretrain.tar",
            _M2MAN,
            sha256="75c37f8d438b7c6aed2e6b310fd0540c40dabf0dd820770bd7082668dfd7c1c1",
            check="checkpoint",
        ),
    ),
    ("backbone", "resnet"): (
        Resource("resnet50-0676ba61.pth", _TORCHVISION, sha256_prefix="0676ba61", check="checkpoint"),
    ),
    # biubug6/Face-Detector-1MB-with-landmark img/sample.jpg; sha256 of the public file not pinned here.
    ("images", "*"): (Resource("sample.jpg", None, check="image"),),
    # RetinaFace label.txt files (train / val) are distributed via Google Drive / Baidu only: mirror needed.
    ("annotations", "*"): (
        Resource("retinaface_gt/train/label.txt", None, check="text"),
        Resource("retinaface_gt/val/label.txt", None, check="text"),
    ),
    # A tiny WIDER-layout set: the mirror serves a sha256sum-format manifest; every listed file is verified.
    ("test_data", "*"): (Resource("mini_wider/SHA256SUMS", None, check="manifest"),),
}

# Public home of the sample image (raw GitHub URL; the relative mirror name is 'sample.jpg').
_PUBLIC_URLS = {
    "sample.jpg": "https://raw.githubusercontent.com/biubug6/Face-Detector-1MB-with-landmark/master/img/sample.jpg",
}


def default_dir() -> Path:
    """``$RETINAFACE_CACHE`` or ``~/.cache/retinaface_ros``."""
    return Path(os.environ.get("RETINAFACE_CACHE") or Path.home() / ".cache" / "retinaface_ros")


def download(
    backbone: str = "mnet",
    path: str | Path | None = None,
    mode: str = "pretrained",
    verbose: bool = True,
    url: str | None = None,
) -> Path:
    """Fetch the files of ``mode`` into ``path`` (default :func:`default_dir`) and return what was written.

    Returns the file for single-file modes ('pretrained', 'backbone', 'images') and the folder holding the
    files for 'annotations' (``retinaface_gt/``) and 'test_data' (``mini_wider/``).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if backbone not in BACKBONES:
        raise ValueError(f"backbone must be one of {BACKBONES}, got {backbone!r}")
    root = Path(path) if path is not None else default_dir()
    if root.exists() and not root.is_dir():
        raise ValueError(f"path must be a folder to download into, {str(root)!r} is a file")
    base = url or os.environ.get("RETINAFACE_DOWNLOAD_URL") or None
    resources = RESOURCES.get((mode, backbone)) or RESOURCES[(mode, "*")]
    written = [fetch(res, root, base, verbose) for res in resources]
    if mode == "test_data":
        manifest = written[0]
        for name, digest in read_manifest(manifest):
            fetch(Resource(f"mini_wider/{name}", None, sha256=digest), root, base, verbose)
        return manifest.parent
    if mode == "annotations":
        return root / "retinaface_gt"
    return written[0]


def read_manifest(path: Path, source: str | None = None) -> list[tuple[str, str]]:
    """``sha256  relative/path`` lines → [(path, sha256)]; paths must stay inside the folder.

    Errors name ``source`` (e.g. the URL it came from) or else ``path``.
    """
    where = source or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"{where}: not a UTF-8 text file") from error
    entries = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split(maxsplit=1)
        if (
            len(parts) != 2
            or len(parts[0]) != 64
            or any(c not in "0123456789abcdef" for c in parts[0].lower())
        ):
            raise ValueError(f"{where}:{number}: expected '<sha256>  <relative path>', got {line!r}")
        entries.append((_safe_relative(parts[1].strip().lstrip("*"), where), parts[0].lower()))
    if not entries:
        raise ValueError(f"{where} lists no files")
    return entries


def _safe_relative(name: str, source: Path | str) -> str:
    pure = PurePosixPath(name)
    if not name or pure.is_absolute() or ".." in pure.parts or "\\" in name or ":" in name:
        raise ValueError(f"{source}: refusing file name {name!r} (must be a relative path inside the folder)")
    return pure.as_posix()


def source_url(res: Resource, base: str | None) -> str:
    """The URL of ``res``: mirror base + relative name, else its public home."""
    if base:
        return base.rstrip("/") + "/" + urllib.parse.quote(res.name)
    if res.name in _PUBLIC_URLS:
        return _PUBLIC_URLS[res.name]
    if res.base is None:
        raise ValueError(
            f"no public URL is known for {res.name!r}; pass url=<mirror base> or set RETINAFACE_DOWNLOAD_URL"
        )
    return res.base + urllib.parse.quote(res.name)


def fetch(res: Resource, root: Path, base: str | None, verbose: bool = True) -> Path:
    """Download one resource to ``root/res.name`` (skipped when a verified copy is there)."""
    target = root / _safe_relative(res.name, "download table")
    if target.is_file():
        try:
            verify(res, target)
        except ValueError:
            pass  # stale or damaged copy: fetch again
        else:
            if verbose:
                print(f"{target} already present and verified")
            return target
    address = source_url(res, base)
    with atomic_output(target) as out:  # creates the folder  # verified before it is renamed into place
        try:
            _stream(address, out, verbose, target.name)
        except DownloadError as error:
            where = "this mirror" if base else "offline? a mirror (url= or $RETINAFACE_DOWNLOAD_URL)"
            raise DownloadError(f"{error} ({where} must serve {res.name!r})") from error
        out.flush()
        verify(res, Path(out.name), address)
    if verbose:
        print(f"Downloaded {address} -> {target}")
    return target


def _stream(address: str, out, verbose: bool, label: str) -> None:
    """Copy the body at ``address`` into ``out``; errors name the URL (HTTP status, short body, timeout)."""
    scheme = urllib.parse.urlsplit(address).scheme
    if scheme not in ("http", "https", "file"):
        raise ValueError(f"unsupported URL scheme {scheme!r} in {address} (use http, https or file)")
    try:
        with urllib.request.urlopen(address, timeout=TIMEOUT_S) as response:  # noqa: S310 (scheme checked)
            length = response.headers.get("Content-Length")
            expected = int(length) if length and length.isdigit() else None
            received = 0
            progress = _progress(verbose, expected, label)
            try:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    received += len(chunk)
                    progress(len(chunk))
            finally:
                progress(None)
    except urllib.error.HTTPError as error:
        raise DownloadError(
            f"download failed: {address} answered HTTP {error.code} {error.reason}"
        ) from error
    except (urllib.error.URLError, http.client.HTTPException, TimeoutError, OSError) as error:
        reason = getattr(error, "reason", error)
        raise DownloadError(f"download failed: {address}: {reason}") from error
    if expected is not None and received != expected:
        raise DownloadError(f"download failed: {address}: got {received} of {expected} bytes (truncated)")


def _progress(verbose: bool, total: int | None, label: str) -> Callable[[int | None], None]:
    if not verbose:
        return lambda n: None
    from tqdm import tqdm

    bar = tqdm(total=total, unit="B", unit_scale=True, desc=label, leave=False)

    def update(n: int | None) -> None:
        if n is None:
            bar.close()
        else:
            bar.update(n)

    return update


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(res: Resource, path: Path, source: str | None = None) -> None:
    """Raise ValueError unless ``path`` is ``res``: size, sha256 (or its prefix), then the content check."""
    where = source or str(path)
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"{where}: empty file")
    if res.size is not None and size != res.size:
        raise ValueError(f"{where}: size {size} bytes, expected {res.size}")
    if res.sha256 is not None or res.sha256_prefix is not None:
        digest = sha256_of(path)
        if res.sha256 is not None and digest != res.sha256:
            raise ValueError(f"{where}: sha256 mismatch (got {digest}, expected {res.sha256})")
        if res.sha256_prefix is not None and not digest.startswith(res.sha256_prefix):
            raise ValueError(f"{where}: sha256 {digest} does not start with {res.sha256_prefix}")
    if res.check:
        _check_content(res.check, path, where)


def _check_content(check: str, path: Path, where: str) -> None:
    if check.startswith("state_dict:") or check == "checkpoint":
        from retinaface_ros.io.state_dicts import backbone_of, read_state_dict

        state = read_state_dict(path)  # weights_only: refuses pickles that carry code
        if check.startswith("state_dict:") and backbone_of(state) != check.split(":", 1)[1]:
            raise ValueError(
                f"{where}: holds a {backbone_of(state)!r} model, expected {check.split(':', 1)[1]!r}"
            )
    elif check == "image":
        from retinaface_ros.io.image_files import read_image

        try:
            read_image(path)
        except ValueError as error:
            raise ValueError(f"{where}: not a decodable image ({error})") from None
    elif check == "manifest":  # checked before it is cached: a bad manifest is fetched again next time
        read_manifest(path, where)
    elif check == "text":
        try:
            path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise ValueError(f"{where}: not a UTF-8 text file") from error
