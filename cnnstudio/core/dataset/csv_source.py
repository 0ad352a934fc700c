"""A CSV file of ``path,label`` lines as a dataset source.

- Relative paths resolve against the CSV's own folder, so the CSV and its pictures can move together.
- The header is optional: a first line that names no picture file is a header; its column names
  (path/file/image..., label/class...) may put the columns in another order. Without a header,
  column 1 is the path and column 2 the label.
- Comma, semicolon and tab separators are recognised; a line without a label gives an unlabelled picture.
- A file listed twice is used once (the first line wins) and a note says so.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from cnnstudio.core.dataset.formats import IMAGE_EXTENSIONS, extension
from cnnstudio.core.dataset.index import DatasetIndex, Sample
from cnnstudio.core.dataset.problems import MISSING, unsupported_extension_reason
from cnnstudio.core.errors import UserError

PATH_HEADERS = frozenset(
    {"path", "file", "filename", "file_name", "filepath", "file_path", "image", "image_path"}
)
LABEL_HEADERS = frozenset({"label", "class", "class_name", "category", "target", "y"})


def read_csv_source(csv_path: Path) -> DatasetIndex:
    csv_path = Path(os.path.abspath(csv_path))
    rows = _read_rows(csv_path)
    base = str(csv_path.parent)
    path_col, label_col, first = _columns(rows, base)

    samples: list[Sample] = []
    seen: dict[str, str | None] = {}
    repeated = conflicting = 0
    for line_no, row in enumerate(rows[first:], start=first + 1):
        cells = [c.strip() for c in row]
        if not any(cells) or cells[0].startswith("#") or len(cells) <= path_col or not cells[path_col]:
            continue
        path = _resolve(cells[path_col], base)
        label = cells[label_col] if label_col < len(cells) and cells[label_col] else None
        if path in seen:
            repeated += 1
            conflicting += seen[path] != label
            continue
        seen[path] = label
        ext = extension(path)
        if ext not in IMAGE_EXTENSIONS:
            problem = unsupported_extension_reason(ext)
        elif not os.path.isfile(path):
            problem = f"{MISSING} (listed on line {line_no} of {csv_path.name})"
        else:
            problem = None
        samples.append(Sample(path, label, None, problem, False))

    if not samples:
        raise UserError(
            f"'{csv_path}' lists no pictures. Each line should be path,label, for example: cats/001.jpg,cat"
        )
    if all(s.problem is not None and s.problem.startswith(MISSING) for s in samples):
        raise UserError(
            f"None of the {len(samples)} files listed in '{csv_path.name}' were found. "
            f"Relative paths are read from the CSV's own folder ({base})."
        )
    notes = []
    if repeated:
        extra = f", {conflicting} of them with a different label" if conflicting else ""
        notes.append(
            f"{repeated} lines of {csv_path.name} list a picture already listed{extra}; the first line is used."
        )
    return DatasetIndex(source=csv_path, layout="csv", samples=samples, notes=notes)


def _read_rows(csv_path: Path) -> list[list[str]]:
    try:
        raw = csv_path.read_bytes()
    except OSError as exc:
        raise UserError(f"'{csv_path}' cannot be read ({exc.strerror or exc}).") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = raw.decode("cp1252", errors="replace")  # what spreadsheet programs on Windows often write
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return list(csv.reader(io.StringIO(text), dialect))


def _columns(rows: list[list[str]], base: str) -> tuple[int, int, int]:
    """(path column, label column, index of the first data row). The first line is a header when none
    of its cells names a picture file."""
    for i, row in enumerate(rows):
        cells = [c.strip().lower() for c in row]
        if not any(cells):
            continue
        if any(extension(c) in IMAGE_EXTENSIONS for c in cells) or os.path.isfile(
            _resolve(row[0].strip(), base)
        ):
            return 0, 1, i
        path_col = next((j for j, c in enumerate(cells) if c in PATH_HEADERS), 0)
        label_col = next((j for j, c in enumerate(cells) if c in LABEL_HEADERS and j != path_col), None)
        if label_col is None:
            label_col = 1 if path_col == 0 else 0
        return path_col, label_col, i + 1
    return 0, 1, len(rows)


def _resolve(cell: str, base: str) -> str:
    path = os.path.normpath(os.path.join(base, os.path.expanduser(cell)))
    if os.sep == "/" and "\\" in cell and not os.path.exists(path):
        # A CSV written on Windows ("cats\001.jpg") used on macOS or Linux.
        path = os.path.normpath(os.path.join(base, cell.replace("\\", "/")))
    return path.replace(os.sep, "/")
