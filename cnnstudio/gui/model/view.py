"""The Model section: build the CNN by dragging layers, see every shape, cost and problem at once.

    designer = ModelDesigner(session)          # or ModelDesigner() alone (own undo stack)
    designer.validity_changed.connect(...)     # (valid, message): the Train section blocks on it
    designer.validation_message()              # None when the design can be trained

Left, the palette; in the middle, the model as a stack of cards (drop layers between them, drag
cards to reorder); right, the selected layer's settings above the summary (parameters, FLOPs,
memory, the measured time per epoch). Templates, undo/redo and "Show as code" are in the toolbar.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QHideEvent, QKeySequence, QShowEvent
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cnnstudio.core.errors import UserError
from cnnstudio.core.spec import Backbone, ModelSpec, ShapeReport
from cnnstudio.gui.model.card import missing_weights_mb
from cnnstudio.gui.model.code_dialog import CodeDialog
from cnnstudio.gui.model.document import DesignDocument
from cnnstudio.gui.model.palette import LayerPalette
from cnnstudio.gui.model.properties import PropertyEditor
from cnnstudio.gui.model.stack_view import LayerStackView
from cnnstudio.gui.model.summary import SummaryPanel, missing_weights_titles
from cnnstudio.gui.model.templates_menu import TemplatesMenu
from cnnstudio.gui.model.timing_worker import EpochTimer
from cnnstudio.gui.model.weights_dialog import WeightsDialog
from cnnstudio.gui.session import ProjectSession
from cnnstudio.gui.style import icon, muted_color, warning_color
from cnnstudio.gui.style.theme import error_color
from cnnstudio.gui.workers import TaskRunner

MESSAGE_MS = 8000


class ModelDesigner(QWidget):
    spec_changed = Signal(object)  # ModelSpec, after every change (edits, undo, another project)
    validity_changed = Signal(bool, object)  # (valid, the problem in plain words or None)

    def __init__(
        self,
        session: ProjectSession | None = None,
        parent: QWidget | None = None,
        *,
        measure_time: bool = True,
    ):
        super().__init__(parent)
        self.session = session
        self.document = DesignDocument(session, self)
        self.undo_stack = self.document.undo_stack
        self.tasks = session.tasks if session is not None else TaskRunner(self)
        self.timer = EpochTimer(self.document, self.tasks, self)
        self._code_dialog: CodeDialog | None = None
        self.weights_dialog: WeightsDialog | None = None

        self.palette = LayerPalette(self)
        self.stack = LayerStackView(self.document)
        self.properties = PropertyEditor(self.document)
        self.summary = SummaryPanel(self.document, self.timer, self)
        self.message_label = QLabel(self)
        self.message_label.setWordWrap(True)
        self._message_timer = QTimer(self, singleShot=True, interval=MESSAGE_MS)
        self._message_timer.timeout.connect(lambda: self.message_label.setText(""))

        self.palette.layer_activated.connect(self._add_below_selection)
        self.stack.selection_changed.connect(self.properties.show_layer)
        self.stack.problem.connect(self.show_problem)
        self.document.message.connect(self.show_message)
        self.properties.load_weights_requested.connect(lambda index: self.load_backbone_weights(index=index))
        self.stack.get_weights_requested.connect(self.get_backbone_weights)
        self.document.spec_changed.connect(self.spec_changed)
        self.document.validity_changed.connect(self.validity_changed)

        self._build_layout()
        self.timer.set_enabled(measure_time)
        self.stack.select(1 if len(self.document.spec.layers) > 1 else 0, scroll=False)

    # ---- layout --------------------------------------------------------------------------------
    def _build_layout(self) -> None:
        toolbar = QHBoxLayout()
        toolbar.setSpacing(4)
        self.templates_button = self._button(
            "Templates", "layers/template", None, "Start from a ready-made design"
        )
        self.templates_menu = TemplatesMenu(
            self.load_template,
            lambda: self.load_backbone_weights(),
            lambda: self.document.spec.has_backbone,
            self,
            missing_weights=lambda: next(iter(self._missing_weights()), (None, None))[1],
            on_get_weights=lambda: self.get_backbone_weights(next(iter(self._missing_weights()), (-1,))[0]),
        )
        self.templates_button.setMenu(self.templates_menu)
        self.document.report_changed.connect(lambda _report: self.templates_menu.update_state())
        self.templates_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.undo_action = self.undo_stack.createUndoAction(self, "Undo")
        self.undo_action.setIcon(icon("undo"))
        self.redo_action = self.undo_stack.createRedoAction(self, "Redo")
        self.redo_action.setIcon(icon("redo"))
        if self.session is None:  # in the window, the Edit menu's Undo/Redo own these keys
            self.undo_action.setShortcut(QKeySequence.StandardKey.Undo)
            self.redo_action.setShortcut(QKeySequence.StandardKey.Redo)
            for action in (self.undo_action, self.redo_action):
                action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
                self.addAction(action)
        undo, redo = QToolButton(self), QToolButton(self)
        undo.setDefaultAction(self.undo_action)
        redo.setDefaultAction(self.redo_action)
        for button in (undo, redo):
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonIconOnly)
            button.setAutoRaise(True)
        self.duplicate_button = self._button(
            "Duplicate", "layers/duplicate", self.stack.duplicate, "Duplicate the selected layer (Ctrl+D)"
        )
        self.delete_button = self._button(
            "Delete", "delete", self.stack.delete, "Delete the selected layer (Del)"
        )
        self.code_button = self._button(
            "Show as code", "layers/code", self.show_code, "The design as PyTorch and Keras code"
        )
        self.validity_label = QLabel(self)
        toolbar.addWidget(self.templates_button)
        toolbar.addSpacing(8)
        toolbar.addWidget(undo)
        toolbar.addWidget(redo)
        toolbar.addSpacing(8)
        toolbar.addWidget(self.duplicate_button)
        toolbar.addWidget(self.delete_button)
        toolbar.addSpacing(8)
        toolbar.addWidget(self.code_button)
        toolbar.addStretch(1)
        toolbar.addWidget(self.validity_label)

        stack_area = QScrollArea(self)
        stack_area.setWidget(self.stack)
        stack_area.setWidgetResizable(True)
        stack_area.setFrameShape(QFrame.Shape.StyledPanel)
        stack_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)  # cards wrap
        self.stack_area = stack_area
        self.model_title = QLabel(self)
        self.model_title.setWordWrap(True)
        middle = QWidget(self)
        middle_column = QVBoxLayout(middle)
        middle_column.setContentsMargins(0, 0, 0, 0)
        middle_column.addWidget(self.model_title)
        middle_column.addWidget(stack_area, 1)

        properties_area = QScrollArea(self)
        properties_area.setWidget(self.properties)
        properties_area.setWidgetResizable(True)
        properties_area.setFrameShape(QFrame.Shape.NoFrame)
        properties_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        right = QWidget(self)
        right_column = QVBoxLayout(right)
        right_column.setContentsMargins(0, 0, 0, 0)
        right_column.addWidget(QLabel("<b>Settings</b>", right))
        right_column.addWidget(properties_area, 1)
        right_column.addWidget(self.summary)

        splitter = QSplitter(Qt.Orientation.Horizontal, self)
        splitter.addWidget(self.palette)
        splitter.addWidget(middle)
        splitter.addWidget(right)
        # Every pane gives way as the window narrows (at 1000 x 700 too), the model's cards most.
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 3)
        splitter.setStretchFactor(2, 1)
        splitter.setSizes([280, 560, 380])
        splitter.setChildrenCollapsible(False)
        self.palette.setMinimumWidth(230)  # its longest name beside the scrollbar
        right.setMinimumWidth(320)
        self.splitter = splitter

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.addLayout(toolbar)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.message_label)
        self.document.report_changed.connect(self._update_header)
        self._update_header(self.document.report)

    def _button(self, text: str, icon_name: str, slot, tip: str) -> QToolButton:
        button = QToolButton(self)
        button.setText(text)
        button.setIcon(icon(icon_name))
        button.setToolTip(tip)
        button.setAutoRaise(True)
        button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        if slot is not None:
            button.clicked.connect(lambda _checked=False: slot())
        return button

    def _update_header(self, report: ShapeReport) -> None:
        spec = self.document.spec
        muted = muted_color().name()
        self.model_title.setText(
            f"<b>Model</b> <span style='color:{muted}'>· {spec.name} · {len(spec.layers)} layers · "
            f"drop layers between the cards</span>"
        )
        missing = missing_weights_titles(spec.layers)
        if report.ok and missing:
            self.validity_label.setText(
                f"<span style='color:{warning_color().name()}'>⚠ Will not learn well: no pre-trained weights</span>"
            )
            self.validity_label.setToolTip(
                f"{missing} starts from random weights. Select its card to get them."
            )
        elif report.ok:
            self.validity_label.setText("<span style='color:#2e8b57'>✓ Ready to train</span>")
            self.validity_label.setToolTip("")
        else:
            self.validity_label.setText(f"<span style='color:{error_color().name()}'>⚠ Has a problem</span>")
            self.validity_label.setToolTip(report.error)

    # ---- public API ----------------------------------------------------------------------------
    def spec(self) -> ModelSpec:
        return self.document.spec

    def report(self) -> ShapeReport:
        return self.document.report

    def is_valid(self) -> bool:
        return self.document.is_valid()

    def validation_message(self) -> str | None:
        """None when the design can be trained; else the problem, naming the layer, and a fix."""
        return self.document.validation_message()

    def set_spec(self, spec: ModelSpec, text: str = "Change the design") -> None:
        """Make `spec` the design as one undo step."""
        self.document.apply(spec, text)

    def load_template(self, name: str) -> None:
        self.document.load_template(name)
        self.stack.select(1)
        self.show_message("Template loaded. Undo brings back the design you had.")

    def select(self, index: int) -> None:
        self.stack.select(index)

    def show_code(self) -> CodeDialog:
        """The "Show as code" dialog (not modal, so the design stays usable next to it)."""
        if self._code_dialog is not None:
            self._code_dialog.close()
        self._code_dialog = CodeDialog(self.document.spec, self.document.num_classes, self)
        self._code_dialog.show()
        return self._code_dialog

    def section_shown(self) -> None:
        """The window switched to this section: the dataset or the batch size may have changed."""
        self.document.refresh_dataset()
        self.timer.schedule()

    # ---- pre-trained weights from a file ------------------------------------------------------
    def load_backbone_weights(self, path: str | Path | None = None, index: int | None = None):
        """Check a weights file against the design's Backbone in the background; use it when it fits.
        Returns the checking Task (None when there is nothing to do)."""
        layers = self.document.spec.layers
        if index is None:
            index = next((i for i, layer in enumerate(layers) if isinstance(layer, Backbone)), None)
        if index is None or not isinstance(layers[index], Backbone):
            self.show_problem(
                "The design has no pre-trained network: load a transfer-learning template first."
            )
            return None
        if path is None:
            path, _ = QFileDialog.getOpenFileName(
                self,
                "Choose a weights file",
                str(Path.home()),
                "Weights (*.pth *.pt *.safetensors);;All files (*)",
            )
            if not path:
                return None
        layer = layers[index].replace(weights=str(Path(path)))

        def check(_ctx):
            from cnnstudio.core.spec.backbone_loader import make_backbone

            make_backbone(layer)  # UserError in plain words when the file does not fit
            return True

        def fits(_result) -> None:
            current = self.document.spec.layers
            if (
                index < len(current)
                and isinstance(current[index], Backbone)
                and current[index].arch == layer.arch
            ):
                self.document.replace_layer(
                    index, current[index].replace(weights=layer.weights), "Load weights from file"
                )
                self.show_message(f"Using the weights in {Path(layer.weights).name}.")

        self.show_message(f"Checking {Path(layer.weights).name}…")
        return self.tasks.start(
            "Checking the weights file", check, on_success=fits, on_error=self.show_problem
        )

    def get_backbone_weights(self, index: int, settings=None) -> WeightsDialog | None:
        """The "Get the pre-trained weights" dialog for the Backbone at `index` (not modal);
        `settings` (a QSettings) remembers the mirror or folder, the app's own by default."""
        layers = self.document.spec.layers
        if not 0 <= index < len(layers) or not isinstance(layers[index], Backbone):
            return None
        dialog = WeightsDialog(layers[index].arch, self.tasks, self, settings)
        dialog.fetched.connect(lambda _path: self._weights_fetched(dialog))
        dialog.show()
        self.weights_dialog = dialog
        return dialog

    def _missing_weights(self) -> list[tuple[int, int]]:
        """(index, MB) of each Backbone whose ImageNet weights are not on this computer."""
        found = []
        for index, layer in enumerate(self.document.spec.layers):
            megabytes = missing_weights_mb(layer)
            if megabytes is not None:
                found.append((index, megabytes))
        return found

    def _weights_fetched(self, dialog: WeightsDialog) -> None:
        self.document.weights_changed()
        self.show_message(f"The pre-trained weights of {dialog.item.title} are ready.")

    # ---- messages, editing helpers -------------------------------------------------------------
    def show_message(self, text: str) -> None:
        self.message_label.setStyleSheet(f"color:{muted_color().name()}")
        self.message_label.setText(text)
        self._message_timer.start()

    def show_problem(self, text: str) -> None:
        self.message_label.setStyleSheet(f"color:{error_color().name()}")
        self.message_label.setText(text)
        self._message_timer.start()

    def _add_below_selection(self, config: dict) -> None:
        from cnnstudio.core.spec import Layer

        try:
            layer = Layer.from_config(config)
        except UserError as exc:
            self.show_problem(str(exc))
            return
        index = (
            max(1, self.stack.selected + 1) if self.stack.selected >= 0 else len(self.document.spec.layers)
        )
        self.stack.insert(index, layer)

    # ---- shown or not --------------------------------------------------------------------------
    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.timer.set_active(True)

    def hideEvent(self, event: QHideEvent) -> None:
        super().hideEvent(event)
        self.timer.set_active(False)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.timer.shutdown()
        super().closeEvent(event)
