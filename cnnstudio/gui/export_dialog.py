"""Export a trained run as a model file, and show that the file predicts what the app predicts.

Three formats (core.export): a .cnnmodel bundle, ONNX, TorchScript. The export and its check run in
the background: the file is written, loaded back the way its users will load it, and run on the
project's validation pictures; the dialog then shows the verdict in words ("ONNX verified on 1,500
validation images: same class for all, largest difference 2e-6"), or what went wrong.

ONNX can be made int8 (core.export.int8): the dialog then shows the float and the int8 file's
numbers side by side (same class as the app, confidence difference, unknown flags, size, speed),
so the user chooses; an int8 file that falls short is not kept, unless the user asks again.
"""

from __future__ import annotations

from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.runs import trained_runs
from cnnstudio.gui.filenames import file_name_part
from cnnstudio.gui.style import icon, muted_color
from cnnstudio.gui.style.theme import error_color

if TYPE_CHECKING:
    from cnnstudio.core.export import ExportResult
    from cnnstudio.core.export.int8 import Int8Check
    from cnnstudio.gui.session import ProjectSession

# (format, title, what it is for, suffix); the suffixes are core.export's.
FORMATS = (
    (
        "bundle",
        "CNN Studio model (.cnnmodel)",
        "Opens in CNN Studio's Predict section and with `cnnstudio predict`; holds the design, the "
        "weights, the preprocessing and a model card.",
        ".cnnmodel",
    ),
    (
        "onnx",
        "ONNX (.onnx)",
        "For other programs and languages (onnxruntime, OpenCV, ...); a predict_example.py is saved beside it.",
        ".onnx",
    ),
    (
        "pt2",
        "PyTorch torch.export (.pt2)",
        "For PyTorch programs, without CNN Studio (torch.export.load): choose this for new Python "
        "code; it needs a PyTorch close to this one's version.",
        ".pt2",
    ),
    (
        "torchscript",
        "TorchScript (.pt)",
        "For older PyTorch programs and C++ (torch.jit.load, libtorch): PyTorch now marks it "
        "deprecated; choose it only when your program needs it.",
        ".pt",
    ),
)
SUFFIXES = {fmt: suffix for fmt, _t, _d, suffix in FORMATS}
INT8_NOTE = (
    "Weights and activations as 8-bit integers: for most models about a quarter of the file size, "
    "and faster on processors with VNNI. Kept only when it gives the app's class for at least 99% of the validation "
    "pictures; the float and int8 numbers are shown side by side."
)
FORMAT_SETTING = "export/format"  # the app's settings remember the last export's format and folder
FOLDER_SETTING = "export/folder"
INTRO = (
    "The file is checked before it is kept: loaded back and run on the project's validation "
    "pictures, it must give the app's answer for every one."
)


class ExportDialog(QDialog):
    exported = Signal(object)  # core.export.ExportResult
    export_failed = Signal(str)

    def __init__(
        self,
        session: ProjectSession,
        run_dir: Path | None = None,
        parent: QWidget | None = None,
        settings: QSettings | None = None,
    ):
        super().__init__(parent)
        self.settings = settings if settings is not None else QSettings()  # the last format and folder
        self.session = session
        self.project = session.project
        self.result: ExportResult | None = None
        self.error: str | None = None
        self._task = None
        self._path_edited = False
        self.setWindowTitle("Export model")
        self.setMinimumWidth(560)

        self.run_combo = QComboBox(self)
        for run in trained_runs(self.project):
            self.run_combo.addItem(run.text, str(run.path))
        if run_dir is not None:
            self.run_combo.setCurrentIndex(max(0, self.run_combo.findData(str(run_dir))))
        self.format_group = QButtonGroup(self)
        formats = QVBoxLayout()
        formats.setSpacing(2)
        self.format_buttons: dict[str, QRadioButton] = {}
        for fmt, title, text, _suffix in FORMATS:
            button = QRadioButton(title, self)
            self.format_group.addButton(button)
            self.format_buttons[fmt] = button
            note = QLabel(text, self, wordWrap=True)
            note.setStyleSheet(f"color: {muted_color().name()}; margin-left: 22px")
            formats.addWidget(button)
            formats.addWidget(note)
            if fmt == "onnx":
                self.int8_box = QCheckBox("int8 (smaller, faster)", self)
                self.int8_box.setStyleSheet("margin-left: 22px")
                self.int8_box.setToolTip(INT8_NOTE)
                self.int8_note = QLabel(INT8_NOTE, self, wordWrap=True)
                self.int8_note.setStyleSheet(f"color: {muted_color().name()}; margin-left: 44px")
                formats.addWidget(self.int8_box)
                formats.addWidget(self.int8_note)
        last = str(self.settings.value(FORMAT_SETTING, "bundle"))
        self.format_buttons[last if last in self.format_buttons else "bundle"].setChecked(True)
        self.path_edit = QLineEdit(self)
        self.path_edit.textEdited.connect(self._edited)
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse)
        path_row = QHBoxLayout()
        path_row.addWidget(self.path_edit, 1)
        path_row.addWidget(browse)

        form = QFormLayout()
        form.addRow("Run:", self.run_combo)
        form.addRow("Format:", formats)
        form.addRow("Save as:", path_row)

        self.progress = QProgressBar(self)
        self.progress.setTextVisible(False)
        self.progress.hide()
        self.status = QLabel(self, wordWrap=True, textFormat=Qt.TextFormat.RichText)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.status.setText(INTRO)
        self.buttons = QDialogButtonBox(self)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.export_button.setIcon(icon("save"))
        self.folder_button = self.buttons.addButton("Show in folder", QDialogButtonBox.ButtonRole.ActionRole)
        self.folder_button.setIcon(icon("folder"))
        self.folder_button.hide()
        self.keep_button = self.buttons.addButton("Keep it anyway", QDialogButtonBox.ButtonRole.ActionRole)
        self.keep_button.setToolTip("Save the int8 file although it falls short of 99%")
        self.keep_button.hide()
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.export_button.clicked.connect(lambda: self.export())
        self.keep_button.clicked.connect(lambda: self.export(force=True))
        self.folder_button.clicked.connect(self._show_in_folder)
        self.close_button.clicked.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addStretch(1)
        layout.addWidget(self.buttons)

        self.format_group.buttonToggled.connect(lambda _b, on: on and self._format_switched())
        self.int8_box.toggled.connect(lambda *_a: self._update_path())
        self.run_combo.currentIndexChanged.connect(lambda *_a: self._update_path())
        self._update_path()
        if not self.run_combo.count():
            self.export_button.setEnabled(False)
            self.status.setText("This project has no trained run yet. Train one first.")

    # ---- choices -------------------------------------------------------------------------------------
    @property
    def format(self) -> str:
        for fmt, button in self.format_buttons.items():
            if button.isChecked():
                return fmt
        return "bundle"

    @property
    def int8(self) -> bool:
        """The int8 form of the ONNX file was asked for (and ONNX is the format)."""
        return self.format == "onnx" and self.int8_box.isChecked()

    def set_format(self, fmt: str) -> None:
        self.format_buttons[fmt].setChecked(True)

    def set_path(self, path: Path | str) -> None:
        self.path_edit.setText(str(path))
        self._path_edited = True

    def _format_switched(self) -> None:
        """Another format: the previous export's result (or failure) no longer applies."""
        self._update_path()
        if self._task is None and (self.result is not None or self.error is not None):
            self.result, self.error = None, None
            self.folder_button.hide()
            self.status.setText(INTRO)

    def _edited(self, _text: str) -> None:
        self._path_edited = True

    def _update_path(self) -> None:
        self.int8_box.setEnabled(self.format == "onnx")
        self.int8_note.setEnabled(self.format == "onnx")
        self.keep_button.hide()
        suffix = SUFFIXES[self.format]
        text = self.path_edit.text().strip()
        if self._path_edited and text:
            # Keep the user's name; only the ending follows the format.
            path = Path(text)
            if path.suffix.lower() in {s for s in SUFFIXES.values()} | {".pth", ".ts"}:
                self.path_edit.setText(str(path.with_suffix(suffix)))
            return
        run = Path(self.run_combo.currentData() or "run").name
        name = file_name_part(self.project.name) if self.project is not None else "model"
        kind = "-int8" if self.int8 else ""
        folder = Path(str(self.settings.value(FOLDER_SETTING, "") or Path.home()))
        folder = folder if folder.is_dir() else Path.home()  # the folder of the last export, if still there
        self.path_edit.setText(str(folder / f"{name}-{run}{kind}{suffix}"))

    def _browse(self) -> None:
        fmt = self.format
        title = dict((f, t) for f, t, _d, _s in FORMATS)[fmt]
        chosen, _ = QFileDialog.getSaveFileName(
            self, "Save the model as", self.path_edit.text(), f"{title} (*{SUFFIXES[fmt]})"
        )
        if chosen:
            self.set_path(chosen)

    # ---- exporting -----------------------------------------------------------------------------------
    def export(self, force: bool = False) -> None:
        """Export and verify in the background; `exported` or `export_failed` tells how it went.

        `force`: keep an int8 file that falls short (the "Keep it anyway" button)."""
        project = self.project
        run = self.run_combo.currentData()
        text = self.path_edit.text().strip()
        if project is None or not run or not text:
            return
        fmt, out, run_name, int8 = self.format, Path(text).expanduser(), Path(run).name, self.int8
        overwrite = False
        if fmt == "torchscript":
            from cnnstudio.core.export.job import output_path
            from cnnstudio.core.export.torchscript_export import foreign_metadata_file

            foreign = foreign_metadata_file(output_path(out, fmt, f"{project.name}-{run_name}"))
            if foreign is not None:
                answer = QMessageBox.question(
                    self,
                    "Replace a file?",
                    f"{foreign.name} already exists in {foreign.parent} and is not a CNN Studio file. "
                    "The TorchScript export writes its metadata there.\n\nReplace it?",
                    QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                    QMessageBox.StandardButton.Cancel,
                )
                if answer != QMessageBox.StandardButton.Yes:
                    self.status.setText("Not exported: choose another name to keep that file.")
                    return
                overwrite = True
        self.result, self.error = None, None
        self.export_button.setEnabled(False)
        self.folder_button.hide()
        self.keep_button.hide()
        self.progress.setRange(0, 0)
        self.progress.show()
        self.status.setText(f"Exporting run {run_name} and checking the file…")

        def job(ctx):
            from cnnstudio.core.export import export_run
            from cnnstudio.core.export.int8 import Int8Refused

            try:
                return export_run(
                    project,
                    fmt,
                    out,
                    run=run_name,
                    progress=ctx.progress,
                    overwrite=overwrite,
                    int8=int8,
                    force=force,
                )
            except Int8Refused as refused:
                return refused  # shown with its numbers, and the choice to keep it anyway

        task = self.session.tasks.start(
            f"Exporting run {run_name}", job, on_success=self._done, on_error=self._failed
        )
        task.progressed.connect(self._progressed)
        self._task = task

    def _progressed(self, done: int, total: int) -> None:
        if total > 0:
            self.progress.setRange(0, total)
            self.progress.setValue(done)

    def _done(self, result) -> None:
        from cnnstudio.core.export.int8 import Int8Check, Int8Refused

        if isinstance(result, Int8Refused):
            self._task = None
            self.error = str(result)
            self.progress.hide()
            self.export_button.setEnabled(True)
            self.keep_button.show()
            self.status.setText(
                f"<span style='color:{error_color().name()}'><b>Not kept.</b> The int8 file gives the "
                f"app's class for only {escape(percent_words(result.check))}, and at least "
                f"{result.check.min_same_class:.0%} is needed. Export the float ONNX instead, or keep "
                f"the int8 file anyway.</span>{comparison_table(result.check)}"
            )
            self.adjustSize()
            self.export_failed.emit(self.error)
            return
        self._task = None
        self.result = result
        self.settings.setValue(FORMAT_SETTING, self.format)
        self.settings.setValue(FOLDER_SETTING, str(Path(result.path).parent))
        self.progress.hide()
        self.export_button.setEnabled(True)
        self.folder_button.show()
        extra = "".join(f"<br>Also saved: {escape(Path(p).name)}" for p in result.extra_files)
        if isinstance(result.verification, Int8Check):
            check = result.verification
            verdict = (
                f"int8 ONNX kept as asked, though it falls short: the app's class for {percent_words(check)}"
                if check.forced
                else f"int8 ONNX checked on {check.images:,} {check.on}: the app's class for {percent_words(check)}"
            )
            self.status.setText(
                f"<b>{'' if check.forced else '✓ '}{escape(verdict)}.</b>{comparison_table(check)}"
                f"Saved as {escape(str(result.path))}{extra}"
            )
        else:
            self.status.setText(
                f"<b>✓ {escape(checked_words(result))}.</b><br>Saved as {escape(str(result.path))}{extra}"
            )
        self.adjustSize()  # room for the table, without squeezing the format notes
        self.exported.emit(result)

    def _failed(self, text: str) -> None:
        self._task = None
        self.error = text
        self.progress.hide()
        self.export_button.setEnabled(True)
        self.status.setText(
            f"<span style='color:{error_color().name()}'><b>Not exported.</b> {escape(text)}</span>"
        )
        self.export_failed.emit(text)

    def _show_in_folder(self) -> None:
        from cnnstudio.gui.folders import show_in_folder

        if self.result is not None:
            show_in_folder(str(self.result.path))


def open_export_dialog(
    session: ProjectSession,
    parent: QWidget | None = None,
    run_dir: Path | None = None,
    settings: QSettings | None = None,
) -> ExportDialog:
    """For a menu entry ("File > Export model…"): the dialog, shown."""
    dialog = ExportDialog(session, run_dir=run_dir, parent=parent, settings=settings)
    dialog.open()
    return dialog


def percent_words(check: Int8Check) -> str:
    from cnnstudio.core.export.int8 import percent_text

    return f"{percent_text(check.same_share)} of {check.images:,} pictures"


def comparison_table(check: Int8Check) -> str:
    """The float and the int8 file's numbers side by side, as HTML for a QLabel."""
    from cnnstudio.core.export.int8 import percent_text, size_text

    def same(side) -> str:
        return f"{percent_text(side.same_class / check.images if check.images else 1.0)}"

    rows = [
        ("Same class as the app", same(check.float), same(check.int8)),
        (
            "Largest confidence difference",
            f"{check.float.max_diff * 100:.2f} points",
            f"{check.int8.max_diff * 100:.2f} points",
        ),
    ]
    if check.int8.unknown_differ is not None:
        rows.append(
            ("Unknown flags that differ", f"{check.float.unknown_differ:,}", f"{check.int8.unknown_differ:,}")
        )
    rows += [
        ("File size", size_text(check.float.size), f"{size_text(check.int8.size)} ({check.size_ratio:.2f}x)"),
        (
            "Pictures per second here",
            f"{check.float.images_per_s:,.0f}",
            f"{check.int8.images_per_s:,.0f} ({check.speed_ratio:.2f}x)",
        ),
    ]
    cells = "".join(
        f"<tr><td>{escape(name)}</td><td align='right'>{escape(a)}</td><td align='right'>{escape(b)}</td></tr>"
        for name, a, b in rows
    )
    return (
        "<table cellspacing='0' cellpadding='3' style='margin: 6px 0'>"
        "<tr><th></th><th align='right'>float ONNX</th><th align='right'>int8 ONNX</th></tr>"
        f"{cells}</table>"
    )


def checked_words(result) -> str:
    """The export's check in plain words ("largest difference 5e-7" means nothing to most people)."""
    check = getattr(result, "verification", None)
    if check is None or not check.ok:
        return result.message
    from cnnstudio.core.export.verify import FORMAT_NAMES

    name = FORMAT_NAMES.get(check.format, check.format)
    where = f"{check.images:,} {check.on}" if check.images != 1 else f"1 {check.on.rstrip('s')}"
    points = check.max_abs_diff * 100
    same = (
        "the same confidence to a thousandth of a percent"
        if points < 0.001
        else f"confidences within {points:.3f} percentage points of the app's"
    )
    return f"{name} verified on {where}: same class for all, and {same}"
