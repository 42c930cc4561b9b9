"""Built-in datasets by name: find local files or download the official release, parse, prepare.

Resolution order: an explicit `data_dir`, then $LMREC_DATA_DIR, then the cache ($LMREC_CACHE or
~/.cache/lmrec), then a download from the official home. A folder is accepted as `<dir>/<dataset folder>/...`
or as `<dir>/...` directly, laid out the way the official archive unpacks. Checksums are enforced on downloads
only; local files are read as they are (a known file that differs from the official one logs a warning).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path

from lmrec.config import from_dict
from lmrec.data import formats
from lmrec.data.builtin import Layout, Source, amazon_source, builtin_sources, dataset_names, source_for
from lmrec.data.download import Pin, Progress, cache_root, cached_folder, check_local, fetch, file_digests
from lmrec.data.prepare import PrepareConfig, describe, prepare
from lmrec.data.readers import ColumnMap, load_files
from lmrec.data.types import Dataset
from lmrec.errors import DataError

log = logging.getLogger(__name__)
_FILE_SUFFIXES = (".csv", ".tsv", ".tab", ".txt", ".dat", ".parquet", ".pq", ".inter", ".gz")
__all__ = ["Located", "dataset_info", "dataset_names", "load_dataset", "locate", "source_for"]


@dataclass(frozen=True)
class Located:
    """Where a dataset's files were found and which layout they have."""

    source: Source
    folder: Path
    layout: Layout
    origin: str  # "data_dir", "LMREC_DATA_DIR", "cache" or "download"


def load_dataset(
    name: str,
    *,
    data_dir: str | Path | None = None,
    download: bool = True,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
    **prepare_options: object,
) -> Dataset:
    """A built-in dataset by name, prepared with `PrepareConfig(**prepare_options)` (default: no repeats)."""
    config = from_dict(PrepareConfig, prepare_options)
    located = locate(name, data_dir=data_dir, download=download, cache_dir=cache_dir, progress=progress)
    return prepare(located.layout.parse(located.folder, located.source.name), config)


def dataset_info(
    name_or_path: str | Path,
    *,
    data_dir: str | Path | None = None,
    download: bool = True,
    cache_dir: str | Path | None = None,
    columns: ColumnMap | None = None,
) -> dict[str, object]:
    """`describe()` statistics plus `source` (folder or file), `origin` (data_dir, LMREC_DATA_DIR, cache,
    download, folder or file) and `files` ({name: bytes, sha256, pinned, matches_pin}); for `lmrec data info`.
    """
    path = Path(name_or_path)
    if path.is_file():
        dataset = load_files(path, columns=columns)
        return {
            **describe(dataset),
            "source": str(path),
            "origin": "file",
            "files": {path.name: _file_entry(path, None)},
        }
    if path.is_dir():
        located = _detect_folder(path)
    elif "/" in str(name_or_path) or path.suffix.lower() in _FILE_SUFFIXES:
        raise DataError("file not found", source=str(name_or_path))
    else:
        located = locate(str(name_or_path), data_dir=data_dir, download=download, cache_dir=cache_dir)
    dataset = located.layout.parse(located.folder, located.source.name)
    layout = located.layout
    files = {
        name: _file_entry(located.folder / name, located.source.pins.get(name))
        for name in (*layout.required, *layout.optional)
        if (located.folder / name).is_file()
    }
    return {**describe(dataset), "source": str(located.folder), "origin": located.origin, "files": files}


def locate(
    name: str,
    *,
    data_dir: str | Path | None = None,
    download: bool = True,
    cache_dir: str | Path | None = None,
    progress: Progress | None = None,
) -> Located:
    """Find (or download) the files of a built-in dataset, following the resolution order."""
    source = source_for(name)
    if data_dir is not None:
        found = _find_local(source, Path(data_dir))
        if found is None:
            looked = [str(Path(data_dir) / f) for f in source.folders] + [str(data_dir)]
            raise DataError(
                f"no {source.name} files in any of {looked}; expected "
                f"{' + '.join(source.layouts[0].required)} (official archive: {_urls(source)}); "
                f"omit data_dir to download into the cache",
                source=str(data_dir),
            )
        return Located(source, *found, "data_dir")
    env = os.environ.get("LMREC_DATA_DIR")
    if env and (found := _find_local(source, Path(env))) is not None:
        return Located(source, *found, "LMREC_DATA_DIR")
    root = cache_root(cache_dir)
    folder = cached_folder(root, source.slug)
    if folder is not None:
        return Located(source, folder, source.layouts[0], "cache")
    if not download:
        raise DataError(
            f"{source.name} is not in the cache ({root / 'datasets' / source.slug}) and download is "
            f"off; pass data_dir=, set LMREC_DATA_DIR, or allow the download from {_urls(source)}"
        )
    log.info("%s: downloading from the official home %s", source.name, source.home)
    folder = fetch(source.slug, list(source.remotes), source.pins, root, progress=progress)
    return Located(source, folder, source.layouts[0], "download")


def _find_local(source: Source, base: Path) -> tuple[Path, Layout] | None:
    incomplete: tuple[Path, Layout, list[str]] | None = None
    for folder in [base / f for f in source.folders] + [base]:
        if not folder.is_dir():
            continue
        for layout in source.layouts:
            missing = [f for f in layout.required if not (folder / f).is_file()]
            if not missing:
                check_local(folder, source.pins)
                log.info("%s: reading %s", source.name, folder)
                return folder, layout
            if incomplete is None and any(
                (folder / f).is_file() for f in (*layout.required, *layout.optional)
            ):
                incomplete = (folder, layout, missing)
    if incomplete is not None:
        folder, layout, missing = incomplete
        raise DataError(
            f"{', '.join(missing)} missing for {source.name} (the folder has "
            f"{sorted(p.name for p in folder.iterdir() if p.is_file())}); get it from "
            f"{_urls(source)} ({source.home}) and unpack it there, or call load_dataset('{source.name}') "
            f"without data_dir to download it into the cache",
            source=str(folder),
            field=missing[0],
        )
    return None


def _detect_folder(path: Path) -> Located:
    """Which built-in layout a user folder has (for `dataset_info` on a path)."""
    candidates = builtin_sources()
    for year, pattern in ((2014, r"reviews_(\w+?)_5\.json\.gz"), (2018, r"(\w+?)_5\.json\.gz")):
        for file in sorted(path.iterdir()):
            match = re.fullmatch(pattern, file.name)
            if match and not (year == 2018 and file.name.startswith("reviews_")):
                candidates.append(amazon_source(year, match.group(1)))
    for source in candidates:
        for layout in source.layouts:
            if all((path / f).is_file() for f in layout.required):
                return Located(source, path, layout, "folder")
    if (path / "interactions.csv").is_file() and (path / "items.csv").is_file():
        generic = Layout(("interactions.csv", "items.csv"), (), formats.generic_folder)
        return Located(
            Source(path.name, path.name, (), (generic,), (), {}, str(path)), path, generic, "folder"
        )
    raise DataError(
        f"no known dataset layout (MovieLens, Last.fm HetRec, Amazon, or interactions.csv + items.csv) "
        f"in {sorted(p.name for p in path.iterdir())}",
        source=str(path),
    )


def _file_entry(path: Path, pin: Pin | None) -> dict[str, object]:
    digests = file_digests(path)
    return {
        "bytes": path.stat().st_size,
        "sha256": digests["sha256"],
        "pinned": pin.kind if pin else None,
        "matches_pin": None if pin is None else digests[pin.kind] == pin.digest,
    }


def _urls(source: Source) -> str:
    return ", ".join(r.url for r in source.remotes)
