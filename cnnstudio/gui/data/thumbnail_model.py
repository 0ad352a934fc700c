"""The grid's model: the samples that pass the filter, one row each, thumbnails on demand.

Filtering is a list comprehension over the samples (tens of milliseconds for 100,000), not a proxy
model asking Python once per row. The delegate reads the `Sample` itself (SAMPLE_ROLE) and the
thumbnail (THUMB_ROLE, which queues the file when it is not in memory); arrivals are announced in
batches, a few times a second at most.
"""

from __future__ import annotations

import json
import os
from bisect import bisect_left
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QAbstractListModel, QMimeData, QModelIndex, QPersistentModelIndex, Qt, QUrl, Signal

from cnnstudio.gui.thumbnails import ThumbnailLoader

if TYPE_CHECKING:
    from cnnstudio.core.dataset import Sample

SAMPLE_ROLE = Qt.ItemDataRole.UserRole + 1
THUMB_ROLE = Qt.ItemDataRole.UserRole + 2
SUGGESTION_ROLE = Qt.ItemDataRole.UserRole + 3  # (label, confidence, unknown) a run suggests, or None
PATHS_MIME = "application/x-cnnstudio-image-paths"  # JSON list of absolute paths

# What the class list selects: every image, the unlabelled queue, unusable files, or one class.
ALL, UNLABELLED, PROBLEMS, CLASS = "all", "unlabelled", "problems", "class"
# Sets of pictures from model-assisted labelling: labelled by accepting suggestions, likely label errors.
ACCEPTED, ISSUES = "accepted", "issues"


@dataclass(frozen=True)
class ImageFilter:
    kind: str = ALL
    label: str | None = None  # with kind CLASS
    split: str | None = None  # "train" | "val" | "test" | None (any)
    text: str = ""  # part of the file name, any case
    paths: frozenset[str] | None = None  # with kind ACCEPTED or ISSUES

    def with_(self, **changes: Any) -> ImageFilter:
        return replace(self, **changes)

    def accepts(self, s: Sample) -> bool:
        if self.kind == UNLABELLED and (s.label is not None or s.problem is not None):
            return False
        if self.kind == PROBLEMS and s.problem is None:
            return False
        if self.kind == CLASS and s.label != self.label:
            return False
        if self.kind in (ACCEPTED, ISSUES) and s.path not in (self.paths or ()):
            return False
        if self.split is not None and s.split != self.split:
            return False
        if self.text and self.text.casefold() not in os.path.basename(s.path).casefold():
            return False
        return True

    @property
    def depends_on_labels(self) -> bool:
        return self.kind in (UNLABELLED, CLASS)


class ThumbnailModel(QAbstractListModel):
    """Rows whose look changed (a thumbnail arrived, a label changed) are announced with `rows_changed`,
    not dataChanged: QListView answers any dataChanged with a full relayout, which asks Python for the
    row count once per row (100,000 calls, a quarter of a second). The view repaints those cells."""

    filtered = Signal()  # the rows were recomputed (new filter or new samples)
    rows_changed = Signal(list)  # rows to repaint; their size and order did not change

    def __init__(self, loader: ThumbnailLoader | None = None, parent=None):
        super().__init__(parent)
        self.loader = loader or ThumbnailLoader(parent=self)
        self.loader.loaded.connect(self._thumbnails_arrived)
        self._samples: list[Sample] = []
        self._rows: list[Sample] = []
        self._row_of: dict[str, int] | None = None  # built when first needed
        self.filter = ImageFilter()
        self.suggestions: dict[str, tuple[str, float, bool]] = {}  # path -> (label, confidence, unknown)
        self.rank: dict[str, int] | None = None  # useful-first order of the queue; None: index order

    # ---- content -----------------------------------------------------------------------------------
    def set_samples(self, samples: list[Sample]) -> None:
        self._samples = samples
        self._refilter()

    def set_filter(self, image_filter: ImageFilter) -> None:
        if image_filter != self.filter:
            self.filter = image_filter
            self._refilter()

    def _refilter(self) -> None:
        self.beginResetModel()
        accepts = self.filter.accepts
        if self.filter == ImageFilter():
            self._rows = list(self._samples)
        else:
            self._rows = [s for s in self._samples if accepts(s)]
        if self.rank is not None and self.filter.kind in (UNLABELLED, ISSUES):
            rank, last = self.rank, len(self.rank)
            self._rows.sort(key=lambda s: rank.get(s.path, last))
        self._row_of = None
        self.endResetModel()
        self.filtered.emit()

    def samples_changed(self, paths: list[str]) -> None:
        """Labels (or problems) of these samples changed: drop rows the filter no longer takes, redraw.

        Many paths at once (a class renamed) or none (unknown) refilter the whole list instead.
        """
        if not paths or len(paths) > 2000:
            self._refilter()
            return
        row_of = self.row_of()
        rows = sorted(row_of[p] for p in paths if p in row_of)
        if self.filter.depends_on_labels or self.filter.kind == PROBLEMS:
            gone = [r for r in rows if not self.filter.accepts(self._rows[r])]
            for r in reversed(gone):
                self.beginRemoveRows(QModelIndex(), r, r)
                del self._rows[r]
                self.endRemoveRows()
            if gone:
                self._row_of = None
                gone_set = set(gone)
                rows = [r - bisect_left(gone, r) for r in rows if r not in gone_set]
        # Images that now match (say, labelled into the class shown) are not added here: rows appearing
        # under the cursor while the user works through the view would make keys land on another image.
        if rows:
            self.rows_changed.emit(rows)

    def set_suggestions(
        self, suggestions: dict[str, tuple[str, float, bool]], rank: dict[str, int] | None
    ) -> None:
        """Badges for these pictures, and the queue's order (None: the index's order, by file name)."""
        self.suggestions = suggestions
        self.rank = rank
        self._refilter()

    def row_of(self) -> dict[str, int]:
        if self._row_of is None:
            self._row_of = {s.path: i for i, s in enumerate(self._rows)}
        return self._row_of

    def sample(self, row: int) -> Sample:
        return self._rows[row]

    def samples(self) -> list[Sample]:
        return list(self._rows)

    def paths(self, indexes) -> list[str]:
        return [self._rows[i.row()].path for i in indexes if 0 <= i.row() < len(self._rows)]

    # ---- Qt model ----------------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:
        return 0 if parent.isValid() else len(self._rows)

    def data(
        self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if not index.isValid():
            return None
        sample = self._rows[index.row()]
        if role == SAMPLE_ROLE:
            return sample
        if role == THUMB_ROLE:
            return self.loader.get(sample.path)
        if role == SUGGESTION_ROLE:
            return self.suggestions.get(sample.path)
        if role == Qt.ItemDataRole.DisplayRole:
            return os.path.basename(sample.path)
        if role == Qt.ItemDataRole.ToolTipRole:
            tip, suggestion = _tooltip(sample), self.suggestions.get(sample.path)
            if suggestion is not None:
                label, confidence, unknown = suggestion
                tip += f"\nThe model suggests: {label} ({confidence:.0%} sure)"
                if unknown:
                    tip += "\n? It looks unlike the training pictures: check it yourself."
            return tip
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsDragEnabled

    def mimeTypes(self) -> list[str]:
        return [PATHS_MIME, "text/uri-list"]

    def mimeData(self, indexes) -> QMimeData:
        paths = self.paths(indexes)
        mime = QMimeData()
        mime.setData(PATHS_MIME, json.dumps(paths).encode("utf-8"))
        mime.setUrls([QUrl.fromLocalFile(p) for p in paths[:500]])  # dragging out to a file manager
        return mime

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction

    def _thumbnails_arrived(self, paths: list[str]) -> None:
        row_of = self.row_of()
        rows = [row_of[p] for p in paths if p in row_of]
        if rows:
            self.rows_changed.emit(rows)


def paths_from_mime(mime: QMimeData) -> list[str]:
    if not mime.hasFormat(PATHS_MIME):
        return []
    try:
        paths = json.loads(bytes(mime.data(PATHS_MIME)).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        return []
    return [p for p in paths if isinstance(p, str)]


def _tooltip(s: Sample) -> str:
    lines = [os.path.basename(s.path), f"Class: {s.label or 'unlabelled'}"]
    if s.split:
        lines.append(f"Split: {split_name(s.split)}")
    if s.width and s.height:
        lines.append(f"{s.width} × {s.height} pixels")
    if s.problem:
        lines.append(f"Cannot be used: {s.problem}")
    return "\n".join(lines)


def split_name(split: str | None) -> str:
    return {"train": "training", "val": "validation", "test": "test"}.get(split or "", "none yet")
