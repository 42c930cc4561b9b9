"""Official dataset files -> the local cache: streamed download, atomic writes, checksums, a manifest.

A cache folder is complete when its `manifest.json` exists (written last); the manifest records the sha256 and
size of every file, and whether that checksum was pinned (known in advance) or only recorded at download time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lmrec.errors import DataError
from lmrec.io import atomic_write, atomic_write_json

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
Progress = Callable[[str, int, "int | None"], None]  # (label, bytes done, total bytes or None)
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Pin:
    """A known checksum: `sha256` of the file, or `gitblob` (git's SHA-1 of 'blob <size>\\0' + content)."""

    kind: str
    digest: str


@dataclass(frozen=True)
class Remote:
    """One URL; for a zip, `members` maps wanted file names (matched by basename) to required-or-not."""

    url: str
    members: dict[str, bool] = field(default_factory=dict)

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def is_zip(self) -> bool:
        return self.filename.lower().endswith(".zip")


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The cache folder: `cache_dir`, else $LMREC_CACHE, else ~/.cache/lmrec (datasets go in datasets/)."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("LMREC_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "lmrec"


def cached_folder(root: Path, slug: str) -> Path | None:
    """The cache folder of `slug` if its manifest exists and every listed file is there with its size."""
    folder = root / "datasets" / slug
    manifest = folder / MANIFEST
    if not manifest.is_file():
        return None
    try:
        files = json.loads(manifest.read_text(encoding="utf-8"))["files"]
    except (ValueError, KeyError):
        log.warning("%s is unreadable; downloading again", manifest)
        return None
    for name, meta in files.items():
        path = folder / name
        if not path.is_file() or path.stat().st_size != meta.get("bytes"):
            log.warning("cached %s is missing or has the wrong size; downloading again", path)
            return None
    return folder


def fetch(
    slug: str, remotes: list[Remote], pins: dict[str, Pin], root: Path, *, progress: Progress | None = None
) -> Path:
    """Download `remotes` into root/datasets/slug, verify pinned checksums, write the manifest; -> folder."""
    folder = root / "datasets" / slug
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict] = {}
    for remote in remotes:
        with tempfile.TemporaryDirectory(prefix=".download-", dir=folder) as tmp:
            download = Path(tmp) / remote.filename
            _download(remote.url, download, progress)
            names = _unzip(remote, download, folder) if remote.is_zip else [_place(download, folder)]
        for name in names:
            files[name] = _check(folder / name, pins.get(name), remote.url)
    atomic_write_json(
        folder / MANIFEST,
        {
            "dataset": slug,
            "sources": [r.url for r in remotes],
            "downloaded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "files": files,
        },
    )
    return folder


def _download(url: str, target: Path, progress: Progress | None) -> None:
    request = urllib.request.Request(url, headers={"User-Agent": "lmrec (dataset download)"})
    log.info("downloading %s", url)
    try:
        with urllib.request.urlopen(request, timeout=60) as response, open(target, "wb") as out:
            total = response.headers.get("Content-Length")
            total = int(total) if total and total.isdigit() else None
            done = 0
            while chunk := response.read(_CHUNK):
                out.write(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(target.name, done, total)
    except urllib.error.HTTPError as exc:
        raise DataError(f"download failed: HTTP {exc.code} {exc.reason}", source=url) from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise DataError(
            f"download failed ({reason}); put the files in a folder and pass data_dir= "
            f"(or set LMREC_DATA_DIR)",
            source=url,
        ) from None
    if total is not None and done != total:
        raise DataError(f"download truncated: got {done} of {total} bytes", source=url)


def _unzip(remote: Remote, archive: Path, folder: Path) -> list[str]:
    try:
        with zipfile.ZipFile(archive) as zf:
            by_name = {Path(info.filename).name: info for info in zf.infolist() if not info.is_dir()}
            placed = []
            for name, required in remote.members.items():
                info = by_name.get(name)
                if info is None:
                    if required:
                        raise DataError(
                            f"archive has no member '{name}' (members: {sorted(by_name)})", source=remote.url
                        )
                    continue
                atomic_write(folder / name, lambda tmp, info=info: _copy_member(zf, info, tmp))
                placed.append(name)
            return placed
    except zipfile.BadZipFile:
        raise DataError("downloaded file is not a valid zip archive", source=remote.url) from None


def _copy_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo, tmp: Path) -> None:
    with zf.open(info) as src, open(tmp, "wb") as dst:
        shutil.copyfileobj(src, dst, _CHUNK)


def _place(download: Path, folder: Path) -> str:
    atomic_write(folder / download.name, lambda tmp: shutil.copyfile(download, tmp))
    return download.name


def _check(path: Path, pin: Pin | None, url: str) -> dict:
    sums = file_digests(path)
    entry = {"sha256": sums["sha256"], "bytes": path.stat().st_size, "pinned": pin.kind if pin else None}
    if pin is None:
        log.warning(
            "%s: no pinned checksum for this file; recorded sha256 %s in the cache manifest",
            path.name,
            sums["sha256"],
        )
        return entry
    if sums[pin.kind] != pin.digest:
        path.unlink(missing_ok=True)
        raise DataError(
            f"checksum mismatch for {path.name}: expected {pin.kind} {pin.digest}, got "
            f"{sums[pin.kind]}; the download is corrupt or the official file changed (file removed)",
            source=url,
            field=path.name,
        )
    if pin.kind != "sha256":
        log.info(
            "%s matches its pinned %s id; no sha256 was pinned, recorded %s in the cache manifest",
            path.name,
            pin.kind,
            sums["sha256"],
        )
    return entry


def file_digests(path: Path) -> dict[str, str]:
    """sha256 and git blob SHA-1 of a file, in one pass."""
    sha256 = hashlib.sha256()
    blob = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            sha256.update(chunk)
            blob.update(chunk)
    return {"sha256": sha256.hexdigest(), "gitblob": blob.hexdigest()}


def check_local(folder: Path, pins: dict[str, Pin]) -> dict[str, bool]:
    """Compare local files with their pins; a mismatch only logs a warning (local files are read as is)."""
    results = {}
    for name, pin in pins.items():
        path = folder / name
        if not path.is_file():
            continue
        ok = file_digests(path)[pin.kind] == pin.digest
        results[name] = ok
        if not ok:
            log.warning(
                "%s differs from the official release (%s %s); reading it as it is",
                path,
                pin.kind,
                pin.digest[:12],
            )
    return results
