"""The Predict section's table: one row per picture (thumbnail, file, class, confidence, top 3).

Rows keep the model's raw answer; the "unknown" threshold is applied when drawing and exporting, so
moving the slider relabels at once without running the model again. Likewise the unknown-score
threshold: a picture whose score is above it is marked as unlike the training pictures. Files that could not be read
are rows too, at the end, with the reason.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QSize, Qt
from PySide6.QtGui import QBrush, QImage, QPixmap

from cnnstudio.core.trust.verdict import LOW_CONFIDENCE_LABEL, is_unknown
from cnnstudio.gui.style import muted_color
from cnnstudio.gui.style.theme import error_color, warning_color
from cnnstudio.gui.thumbnails import ThumbnailLoader

UNKNOWN = LOW_CONFIDENCE_LABEL
THUMB = 48
COLUMNS = ("Picture", "File", "Class", "Confidence", "Top 3", "Unknown?")
UNKNOWN_COLUMN = 5


class PredictionsModel(QAbstractTableModel):
    def __init__(self, loader: ThumbnailLoader, parent=None):
        super().__init__(parent)
        self.loader = loader
        self.predictions: list = []  # core.export.Prediction, as the model gave them (threshold 0)
        self.problems: list = []  # core.export.PredictionProblem
        self.threshold = 0.0
        self.unknown_threshold: float | None = None  # None: the model has no unknown score
        self._pixmaps: dict[str, QPixmap] = {}
        self._row_of: dict[str, int] = {}
        loader.loaded.connect(self._loaded)

    # ---- content -------------------------------------------------------------------------------------
    def clear(self) -> None:
        self.beginResetModel()
        self.predictions, self.problems = [], []
        self._pixmaps.clear()
        self._row_of = {}
        self.endResetModel()

    def add(self, predictions: list, problems: list) -> None:
        """Add results; a picture already in the table gets its new result."""
        self.beginResetModel()
        new = {p.path for p in predictions} | {p.path for p in problems}
        self.predictions = [p for p in self.predictions if p.path not in new] + list(predictions)
        self.problems = [p for p in self.problems if p.path not in new] + list(problems)
        self._reindex()
        self.endResetModel()

    def moved(self, pairs: list[tuple[str, str]]) -> None:
        """Pictures were moved (sorted into folders): follow them to their new names."""
        where = dict(pairs)
        self.beginResetModel()
        self.predictions = [replace(p, path=where.get(p.path, p.path)) for p in self.predictions]
        self._pixmaps.clear()
        self._reindex()
        self.endResetModel()

    def set_threshold(self, threshold: float) -> None:
        self.threshold = threshold
        if self.predictions:
            self.dataChanged.emit(self.index(0, 2), self.index(len(self.predictions) - 1, 2))

    def set_unknown_threshold(self, threshold: float | None) -> None:
        self.unknown_threshold = threshold
        if self.predictions:
            last = len(self.predictions) - 1
            self.dataChanged.emit(self.index(0, 2), self.index(last, UNKNOWN_COLUMN))

    def is_unknown(self, prediction) -> bool:
        """Unlike the training pictures: its unknown score is above the unknown threshold."""
        return bool(is_unknown(getattr(prediction, "unknown_score", None), self.unknown_threshold))

    def unknown_count(self) -> int:
        return sum(1 for p in self.predictions if self.is_unknown(p))

    def label(self, prediction) -> str:
        return prediction.label if prediction.confidence >= self.threshold else UNKNOWN

    def labelled(self) -> list:
        """The predictions with the threshold applied (what is exported and sorted)."""
        return [
            replace(
                p,
                label=self.label(p),
                unknown=None if p.unknown_score is None else self.is_unknown(p),
            )
            for p in self.predictions
        ]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for p in self.predictions:
            label = self.label(p)
            out[label] = out.get(label, 0) + 1
        return out

    def sort(self, column: int, order: Qt.SortOrder = Qt.SortOrder.AscendingOrder) -> None:
        keys = {
            1: lambda p: Path(p.path).name.casefold(),
            2: lambda p: (self.label(p) == UNKNOWN, self.label(p).casefold(), -p.confidence),
            3: lambda p: p.confidence,
            4: lambda p: p.top[1][1] if len(p.top) > 1 else 0.0,  # how close the runner-up came
            UNKNOWN_COLUMN: lambda p: -1.0 if p.unknown_score is None else p.unknown_score,
        }
        key = keys.get(column)
        if key is None:
            return
        self.layoutAboutToBeChanged.emit()
        self.predictions.sort(key=key, reverse=order == Qt.SortOrder.DescendingOrder)
        self._reindex()
        self.layoutChanged.emit()

    def _reindex(self) -> None:
        self._row_of = {p.path: i for i, p in enumerate(self.predictions)}

    # ---- Qt ------------------------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802 (Qt's name)
        return 0 if parent.isValid() else len(self.predictions) + len(self.problems)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008, N802 (Qt's name)
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation, role: int = Qt.ItemDataRole.DisplayRole):  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            if section == UNKNOWN_COLUMN:
                return "Whether the picture looks unlike the pictures the model was trained on (its unknown score)."
        return None

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        if row >= len(self.predictions):
            return self._problem_data(self.problems[row - len(self.predictions)], col, role)
        p = self.predictions[row]
        if role == Qt.ItemDataRole.DecorationRole and col == 0:
            return self._thumbnail(p.path)
        if role == Qt.ItemDataRole.SizeHintRole and col == 0:
            return QSize(THUMB + 8, THUMB + 6)
        if role == Qt.ItemDataRole.ToolTipRole:
            if col in (2, UNKNOWN_COLUMN) and self.is_unknown(p):
                return (
                    f"This picture looks unlike the pictures the model was trained on (unknown score "
                    f"{p.unknown_score:.3g}, above {self.unknown_threshold:.3g}). Its best guess, "
                    f"{p.label}, may mean nothing; it goes into the unknown folder when sorting."
                )
            return p.path
        if role == Qt.ItemDataRole.TextAlignmentRole and col == 3:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.ForegroundRole and col in (2, UNKNOWN_COLUMN) and self.is_unknown(p):
            return QBrush(warning_color())
        if role == Qt.ItemDataRole.ForegroundRole and col == 2 and self.label(p) == UNKNOWN:
            return QBrush(muted_color())
        if role == Qt.ItemDataRole.UserRole:
            return p
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if col == 1:
            return Path(p.path).name
        if col == 2:
            return self.label(p)
        if col == 3:
            return f"{p.confidence:.1%}"
        if col == 4:
            return " · ".join(f"{label}: {prob:.0%}" for label, prob in p.top)
        if col == UNKNOWN_COLUMN:
            if p.unknown_score is None or self.unknown_threshold is None:
                return ""
            return f"unknown picture ({p.unknown_score:.3g})" if self.is_unknown(p) else "no"
        return None

    def _problem_data(self, problem, col: int, role: int):
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{problem.path}\n{problem.reason}"
        if role == Qt.ItemDataRole.ForegroundRole:
            return QBrush(error_color())
        if role != Qt.ItemDataRole.DisplayRole:
            return None
        if col == 1:
            return Path(problem.path).name
        if col == 2:
            return "not predicted"
        if col == 4:
            return problem.reason
        return None

    def _thumbnail(self, path: str) -> QPixmap | None:
        pixmap = self._pixmaps.get(path)
        if pixmap is not None:
            return pixmap
        image: QImage | None = self.loader.get(path)
        if image is None or image.isNull():
            return None
        small = image.width() <= THUMB and image.height() <= THUMB
        scaled = image.scaled(
            THUMB,
            THUMB,
            Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.FastTransformation if small else Qt.TransformationMode.SmoothTransformation,
        )
        pixmap = QPixmap.fromImage(scaled)
        self._pixmaps[path] = pixmap
        return pixmap

    def _loaded(self, paths: list[str]) -> None:
        rows = [self._row_of[p] for p in paths if p in self._row_of]
        if rows:
            self.dataChanged.emit(self.index(min(rows), 0), self.index(max(rows), 0))
