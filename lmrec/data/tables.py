"""Delimited text and Parquet files -> string frames, with errors that name the file, the line and the field.

Every value is read as a string (IDs like "007" stay "007"); parsing into numbers happens later, where the
column's meaning is known. Line numbers are worked out only when something is wrong, by re-scanning the file,
so the fast path stays pandas' C parser.
"""

from __future__ import annotations

import bz2
import codecs
import csv
import gzip
import lzma
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pandas as pd

from lmrec.errors import DataError

TEXT_SUFFIXES: dict[str, str | None] = {
    ".csv": ",",
    ".tsv": "\t",
    ".tab": "\t",
    ".txt": None,
    ".dat": None,
    ".inter": "\t",
    ".item": "\t",
    ".user": "\t",
}
PARQUET_SUFFIXES = (".parquet", ".pq")
_OPENERS: dict[str, Callable[..., IO]] = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}
_SNIFF = ("\t", ",", ";", "|", "::")


@dataclass
class Table:
    """A raw frame of strings plus how to turn a frame row back into a place in the file."""

    frame: pd.DataFrame
    source: str
    locate: Callable[[int], tuple[int | None, str]]
    scanner: _Scanner | None = None

    def error(self, message: str, row: int | None = None, field: str | None = None) -> DataError:
        """A DataError at frame row `row` (0-based), naming the file line when the file has lines."""
        if row is None:
            return DataError(message, source=self.source, field=field)
        line, where = self.locate(row)
        return DataError(f"{message}{where}", source=self.source, line=line, field=field)


def file_kind(path: Path) -> tuple[str, str | None]:
    """('text', default separator) or ('parquet', None) from the file name; unknown suffixes raise."""
    suffixes = [s.lower() for s in path.suffixes[-2:]]
    if suffixes and suffixes[-1] in _OPENERS:
        suffixes = suffixes[:-1]
    suffix = suffixes[-1] if suffixes else ""
    if suffix in PARQUET_SUFFIXES:
        return "parquet", None
    if suffix in TEXT_SUFFIXES:
        return "text", TEXT_SUFFIXES[suffix]
    known = sorted(TEXT_SUFFIXES) + list(PARQUET_SUFFIXES)
    raise DataError(
        f"unknown file type {path.suffix or '(no extension)'!r}; expected one of {known} "
        f"(optionally .gz/.bz2/.xz compressed), or pass sep= to read it as delimited text",
        source=str(path),
    )


def check_file(path: str | Path) -> Path:
    """The path as a Path if it is a readable, non-empty file; DataError otherwise."""
    path = Path(path)
    if not path.exists():
        raise DataError("file not found", source=str(path))
    if path.is_dir():
        raise DataError(
            "is a directory, expected a file (for a dataset folder use load_dataset(name, data_dir=...))",
            source=str(path),
        )
    if path.stat().st_size == 0:
        raise DataError("file is empty (0 bytes)", source=str(path))
    return path


def read_table(
    path: str | Path,
    *,
    sep: str | None = None,
    encoding: str = "utf-8",
    names: list[str] | None = None,
    quoting: int = csv.QUOTE_MINIMAL,
) -> Table:
    """Read a delimited text or Parquet file into a Table of strings (text) or native dtypes (Parquet)."""
    path = check_file(path)
    kind, default_sep = ("text", None) if sep is not None else file_kind(path)
    if kind == "parquet":
        return _read_parquet(path)
    encoding = _effective_encoding(path, encoding)
    header = _first_line(path, encoding)
    sep = sep or _sniff_sep(header, default_sep, names)
    quoting = csv.QUOTE_NONE if len(sep) > 1 else quoting
    scan = _Scanner(path, sep, encoding, quoting, expected=len(names) if names else None)
    try:
        frame = pd.read_csv(
            path,
            sep=re.escape(sep) if len(sep) > 1 else sep,
            engine="python" if len(sep) > 1 else "c",
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding=encoding,
            quoting=quoting,
            header=None if names is not None else "infer",
            names=names,
        )
    except UnicodeDecodeError:
        raise encoding_error(path, encoding) from None
    except pd.errors.EmptyDataError:
        raise DataError("file has no content (only blank lines)", source=str(path)) from None
    except (pd.errors.ParserError, ValueError, csv.Error) as exc:
        raise scan.field_count_error() or DataError(f"cannot parse: {exc}", source=str(path)) from None
    if not isinstance(frame.index, pd.RangeIndex):
        raise scan.field_count_error() or DataError("rows have more fields than the header", source=str(path))
    if len(frame) == 0:
        raise DataError(
            "has a header line but no data rows" if names is None else "no data rows",
            source=str(path),
            line=2 if names is None else None,
        )
    last = frame.iloc[:, -1]
    if (last.isna() | (last == "")).any():  # a short row, or an empty last field: only the scan can tell
        short = scan.field_count_error()
        if short is not None:
            raise short
    frame.columns = [str(c).strip() for c in frame.columns]
    return Table(frame, str(path), scan.locate, scan)


def frame_table(frame: pd.DataFrame, source: str) -> Table:
    """A Table over an in-memory frame: places are reported as rows (1-based)."""
    return Table(frame.reset_index(drop=True), source, lambda row: (None, f" (row {row + 1})"))


def short_row_error(table: Table, row: int) -> DataError | None:
    """If frame row `row` came from a line with too few fields, the DataError that says so."""
    scan = table.scanner
    if scan is None:
        return None
    records = scan.records()
    if row < len(records) and records[row][1] != scan.expected:
        line, count = records[row]
        return DataError(
            f"wrong number of fields: {count} instead of {scan.expected}{scan.header_hint}",
            source=table.source,
            line=line,
        )
    return None


def _read_parquet(path: Path) -> Table:
    with open(path, "rb") as handle:
        head = handle.read(4)
        handle.seek(-4, 2)
        tail = handle.read(4)
    if head != b"PAR1" or tail != b"PAR1":
        raise DataError(
            "not a Parquet file (no PAR1 magic bytes); is it CSV with a .parquet name?", source=str(path)
        )
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises many types for corrupt files; none should escape as a traceback
        raise DataError(f"cannot read Parquet file: {exc}", source=str(path)) from None
    if len(frame) == 0:
        raise DataError("Parquet file has no rows", source=str(path))
    frame.columns = [str(c) for c in frame.columns]
    return Table(frame.reset_index(drop=True), str(path), lambda row: (None, f" (row {row + 1})"))


def open_text(path: Path, encoding: str) -> IO[str]:
    opener = _OPENERS.get(path.suffix.lower(), open)
    return opener(path, "rt", encoding=encoding, newline="")


def _open_binary(path: Path) -> IO[bytes]:
    return _OPENERS.get(path.suffix.lower(), open)(path, "rb")


def _effective_encoding(path: Path, encoding: str) -> str:
    if codecs.lookup(encoding).name != "utf-8":
        return encoding
    with _open_binary(path) as handle:
        return "utf-8-sig" if handle.read(3) == codecs.BOM_UTF8 else encoding


def _first_line(path: Path, encoding: str) -> str:
    try:
        with open_text(path, encoding) as handle:
            for line in handle:
                if line.strip():
                    return line.rstrip("\r\n")
    except UnicodeDecodeError:
        raise encoding_error(path, encoding) from None
    raise DataError("file has no content (only blank lines)", source=str(path))


def _sniff_sep(header: str, default: str | None, names: list[str] | None) -> str:
    if default is not None and (default in header or names is not None):
        return default
    counts = {sep: header.count(sep) for sep in _SNIFF}
    if counts["::"]:
        return "::"
    best = max(("\t", ",", ";", "|"), key=lambda s: counts[s])
    return best if counts[best] else (default or ",")


def encoding_error(path: Path, encoding: str) -> DataError:
    """Find the first undecodable byte (line and byte offset) and suggest an encoding that reads the file."""
    offset, line_no = 0, 0
    decoder = codecs.getincrementaldecoder(encoding)()
    with _open_binary(path) as handle:
        for line_no, raw in enumerate(handle, start=1):
            try:
                decoder.decode(raw)
            except UnicodeDecodeError as exc:
                bad = raw[exc.start : exc.start + 4]
                hint = _suggest_encoding(raw, encoding)
                return DataError(
                    f"cannot decode byte(s) {bad!r} at byte offset {offset + exc.start} as "
                    f"{encoding}; {hint}",
                    source=str(path),
                    line=line_no,
                )
            offset += len(raw)
    return DataError(
        f"cannot decode the file as {encoding}; {_suggest_encoding(b'', encoding)}", source=str(path)
    )


def _suggest_encoding(sample: bytes, encoding: str) -> str:
    for candidate in ("utf-8", "cp1252", "latin-1"):
        if codecs.lookup(candidate).name == codecs.lookup(encoding).name:
            continue
        try:
            sample.decode(candidate)
        except UnicodeDecodeError:
            continue
        return (
            f"the file is probably {candidate}: pass encoding='{candidate}' (CLI: --encoding {candidate}); "
            f"MovieLens u.item and movies.dat are latin-1"
        )
    return "pass the file's encoding with encoding=... (CLI: --encoding)"


class _Scanner:
    """Re-reads a text file with the csv module to map data records to physical lines (error paths only)."""

    def __init__(self, path: Path, sep: str, encoding: str, quoting: int, *, expected: int | None) -> None:
        self.path, self.sep, self.encoding, self.quoting = path, sep, encoding, quoting
        self.skip_header = expected is None  # no given field count: the header line sets it
        self.expected = expected
        self.header_hint = ""
        self._records: list[tuple[int, int]] | None = None

    def records(self) -> list[tuple[int, int]]:
        """(first physical line, number of fields) of each data record, blank lines skipped like pandas."""
        if self._records is not None:
            return self._records
        out: list[tuple[int, int]] = []
        with open_text(self.path, self.encoding) as handle:
            if len(self.sep) > 1:
                rows = (
                    (n, line.rstrip("\r\n").split(self.sep))
                    for n, line in enumerate(handle, start=1)
                    if line.strip()
                )
            else:
                rows = self._csv_rows(handle)
            for line, fields in rows:
                if self.expected is None:
                    self.expected = len(fields)
                    if self.skip_header:
                        self.header_hint = f" (header: {self.sep.join(fields)!r})"
                        continue
                out.append((line, len(fields)))
        self._records = out
        return out

    def _csv_rows(self, handle: IO[str]):
        reader = csv.reader(handle, delimiter=self.sep, quoting=self.quoting)
        start = 1
        for fields in reader:
            if fields and any(f.strip() for f in fields) or len(fields) > 1:
                yield start, fields
            start = reader.line_num + 1

    def field_count_error(self) -> DataError | None:
        try:
            records = self.records()
        except (csv.Error, UnicodeDecodeError):
            return None
        for line, count in records:
            if count != self.expected:
                return DataError(
                    f"wrong number of fields: {count} instead of {self.expected}{self.header_hint}",
                    source=str(self.path),
                    line=line,
                )
        return None

    def locate(self, row: int) -> tuple[int | None, str]:
        try:
            records = self.records()
        except (csv.Error, UnicodeDecodeError):
            records = []
        if row < len(records):
            return records[row][0], ""
        return row + (2 if self.skip_header else 1), ""
