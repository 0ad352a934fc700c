"""The open project as the GUI sees it: one object every section takes.

`ProjectSession` holds the `Project`, its current `DatasetIndex`, the `LabelEditor` over both, the
`QUndoStack` of every edit, and the `TaskRunner` whose tasks the status bar shows. Sections listen to
its signals instead of to each other:

- `project_changed(project | None)`: another project was opened (or it was closed).
- `index_changed(index | None)`: a new list of samples (quick listing done, re-split, exclusions).
- `labels_changed(paths)`: labels or classes changed; `paths` are the images touched ([] = unknown/many).
- `splits_changed()`: training / validation / test assignments changed (re-split, newly labelled).
- `problems_found(samples)`: the background check found these samples unusable (fills as it goes).
- `check_finished()`: every file has been decoded once; `session.checked` is True.
- `health_changed(summary)`: a new health summary (class balance, small classes, duplicates).
- `message(text)`: something to tell the user in the status bar.
- `error(text)`: something that went wrong, in plain words (the window shows a dialog).
- `runs_changed()`: a run this session trains began, or ended with its files final (calibrated and
  evaluated); `training_runs` holds the runs whose training job has not ended yet.
- `disk_changed(words)`: another process (a CLI command, a search worker) changed project.json; its
  changes were taken in, this session's unsaved ones kept; `words` says what changed.

project.json is watched (QFileSystemWatcher on the file and its folder: an atomic save replaces the
file, which drops a watch on the file alone). A picture relabelled both here and there is a conflict:
`ask_conflicts(conflicts)` decides (default: a question box; True keeps ours).

Opening works in two steps, as in `cnnstudio index`: the quick listing (no file opened) shows at once,
then the check decodes every file in the background and the problems list fills as it goes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QFileSystemWatcher, QObject, QTimer, Signal
from PySide6.QtGui import QUndoCommand, QUndoStack

from cnnstudio.gui.commands import LabelCommand
from cnnstudio.gui.workers import TaskContext, TaskRunner

if TYPE_CHECKING:
    from cnnstudio.core.dataset import DatasetIndex, HealthSummary, Sample
    from cnnstudio.core.labels.edits import LabelEdit, LabelEditor
    from cnnstudio.core.project import Project

_SAVE_DELAY_MS = 400
_PROCESSES_FROM = 500  # files; below this the check is over before a stall could be noticed  # label edits come in bursts (a key per image); one save per burst


class ProjectSession(QObject):
    project_changed = Signal(object)
    index_changed = Signal(object)
    labels_changed = Signal(list)
    splits_changed = Signal()
    problems_found = Signal(list)
    check_finished = Signal()
    health_changed = Signal(object)
    message = Signal(str)
    error = Signal(str)
    disk_changed = Signal(list)
    runs_changed = Signal()

    def __init__(self, parent: QObject | None = None, tasks: TaskRunner | None = None):
        super().__init__(parent)
        self.project: Project | None = None
        self.index: DatasetIndex | None = None
        self.labels: LabelEditor | None = None
        self.health: HealthSummary | None = None
        self.checked = False
        # Runs whose training job goes on in this session: trained, then calibrated and evaluated.
        # Between the end of the epochs and the end of the job a run's state.json already says
        # "finished", but its calibration is not fitted yet: no result of it is final before then.
        self.training_runs: set[Path] = set()
        self.undo_stack = QUndoStack(self)
        self.tasks = tasks or TaskRunner(self)
        self._check_task = None
        self._generation = 0  # bumps on every open: results of an older project's tasks are dropped
        self._save_timer = QTimer(self, singleShot=True, interval=_SAVE_DELAY_MS)
        self._save_timer.timeout.connect(self.save)
        self.duplicate_groups: list[list[str]] | None = None  # found once per open, after the check
        self._health_task = None
        self._health_again = False
        self._health_timer = QTimer(self, singleShot=True, interval=300)
        self._health_timer.timeout.connect(self._update_health)
        self._watcher = QFileSystemWatcher(self)
        self._watcher.fileChanged.connect(self._file_event)
        self._watcher.directoryChanged.connect(self._file_event)
        self._disk_timer = QTimer(self, singleShot=True, interval=150)  # a burst of events, one read
        self._disk_timer.timeout.connect(self.take_disk_changes)
        self.ask_conflicts = _ask_conflicts

    # ---- opening and closing -----------------------------------------------------------------------
    def open_project(self, project: Project, check: bool = True) -> None:
        """Show `project`: list its images now (in a worker), then check them in the background."""
        self.close_project(emit=False)
        self.project = project
        self._watch()
        self.project_changed.emit(project)
        self.reload(check=check)

    def reload(self, check: bool = True) -> None:
        """List the image folder again (files added or removed outside the app)."""
        project = self.project
        if project is None:
            return
        self._cancel_check()
        self._generation += 1
        generation = self._generation

        def listed(index: DatasetIndex) -> None:
            if generation == self._generation:
                # Undo steps hold the samples of the old listing; they cannot be replayed on a new one.
                self.undo_stack.clear()
                self._set_index(index)
                if check:
                    self.start_check()

        self.tasks.start(
            f"Listing the images of {project.name}",
            lambda ctx: project.index(check=False),
            on_success=listed,
            on_error=self.error.emit,
        )

    def close_project(self, emit: bool = True) -> None:
        if self.project is not None:
            self._cancel_check()
            self.save()
        self._unwatch()
        self._generation += 1
        self.project = None
        self.index = None
        self.labels = None
        self.health = None
        self.duplicate_groups = None
        self.checked = False
        self.undo_stack.clear()
        if emit:
            self.project_changed.emit(None)
            self.index_changed.emit(None)

    def shutdown(self, wait_ms: int = 5000) -> None:
        """Stop timers and background tasks before the session goes away (window closed, tests).

        A pending timer must not start a worker thread that is then destroyed while it runs.
        """
        for timer in (self._health_timer, self._save_timer, self._disk_timer):
            timer.stop()
        self._health_again = False
        self.tasks.cancel_all(wait_ms)

    # ---- runs trained here --------------------------------------------------------------------------
    def run_began(self, run_dir: Path) -> None:
        self.training_runs.add(Path(run_dir))
        self.runs_changed.emit()

    def run_ended(self, run_dir: Path | None) -> None:
        """The training job of `run_dir` ended: its calibration and evaluations are written (or never
        will be: stopped, failed)."""
        if run_dir is not None:
            self.training_runs.discard(Path(run_dir))
        self.runs_changed.emit()

    def set_index(self, index: DatasetIndex, checked: bool = False) -> None:
        """Use an index made elsewhere (tests, previews, a finished check)."""
        self._generation += 1
        self._set_index(index, checked)

    def _set_index(self, index: DatasetIndex, checked: bool = False) -> None:
        from cnnstudio.core.labels.edits import LabelEditor

        assert self.project is not None
        self.index = index
        self.labels = LabelEditor(self.project, index)
        self.checked = checked
        self.index_changed.emit(index)
        self._health_timer.start()

    def replace_samples(self, samples: list[Sample]) -> None:
        """Swap the index's sample list (exclusions and their undo) and tell every view."""
        assert self.index is not None
        self.index.samples = samples
        self._set_index(self.index, self.checked)

    # ---- the background check ----------------------------------------------------------------------
    def start_check(self) -> None:
        """Decode every listed file in the background; problems are reported as they are found."""
        if self.index is None:
            return
        self._cancel_check()
        index, generation = self.index, self._generation

        def found(samples: list[Sample]) -> None:
            if generation == self._generation and samples:
                self.problems_found.emit(samples)
                self._health_timer.start()

        def finished(_result) -> None:
            if generation == self._generation:
                self.checked = True
                self.check_finished.emit()
                self._update_health()

        self._check_task = self.tasks.start(
            "Checking every image",
            lambda ctx: _check_in_steps(index, ctx),
            on_success=finished,
            on_partial=found,
            on_error=self.error.emit,
            background=True,
        )

    def _cancel_check(self) -> None:
        if self._check_task is not None:
            try:
                self._check_task.cancel()
            except RuntimeError:  # already deleted
                pass
            self._check_task = None

    # ---- edits -------------------------------------------------------------------------------------
    def push(self, command: QUndoCommand) -> None:
        """Every edit goes through here, so that it can be undone."""
        self.undo_stack.push(command)

    def apply_edit(self, edit: LabelEdit) -> None:
        """Make a label edit undoable and apply it (an edit that changes nothing is dropped)."""
        if not edit.empty:
            self.push(LabelCommand(self, edit))

    def edit_applied(self, paths: list[str]) -> None:
        """Called by commands after they changed labels: save soon, tell the views."""
        self.schedule_save()
        self.labels_changed.emit(paths)
        self._health_timer.start()

    def schedule_save(self) -> None:
        self._save_timer.start()

    def save(self) -> None:
        self._save_timer.stop()
        if self.project is not None and self.index is not None:
            from cnnstudio.core.labels.resplit import fill_missing_splits

            if fill_missing_splits(self.project, self.index):
                self.splits_changed.emit()
        if self.project is not None:
            from cnnstudio.core.errors import UserError

            try:
                self.take_disk_changes()  # ask about conflicts before our save would settle them
                self.project.save()
            except OSError as exc:
                self.error.emit(f"The project could not be saved: {exc.strerror or exc}.")
            except UserError as exc:  # the project is locked by another program for too long
                self.error.emit(str(exc))
            self._watch()

    # ---- changes made by other processes -----------------------------------------------------------
    def _watch(self) -> None:
        if self.project is None:
            return
        wanted = [str(self.project.folder), str(self.project.file)]
        missing = [p for p in wanted if p not in self._watcher.files() + self._watcher.directories()]
        missing = [p for p in missing if Path(p).exists()]
        if missing:
            self._watcher.addPaths(missing)

    def _unwatch(self) -> None:
        paths = self._watcher.files() + self._watcher.directories()
        if paths:
            self._watcher.removePaths(paths)
        self._disk_timer.stop()

    def _file_event(self, _path: str) -> None:
        if self.project is not None:
            self._disk_timer.start()

    def take_disk_changes(self) -> list[str]:
        """Take in what another process wrote to project.json; keep this session's unsaved edits.
        Returns what changed, in words ([] when nothing did)."""
        from cnnstudio.core.errors import UserError

        self._disk_timer.stop()
        project = self.project
        if project is None:
            return []
        self._watch()  # an atomic replace dropped the watch on the file
        try:
            result = project.reload()
        except UserError as exc:  # half a file from a program that does not write atomically
            self.message.emit(str(exc))
            return []
        if not result.changed:
            return []
        restored: dict[str, str | None] = {}
        if result.conflicts and not self.ask_conflicts(result.conflicts):
            for key, _mine, theirs in result.conflicts:
                if key in result.theirs_removed:  # they took the edit back: the folder's label again
                    project.labels.pop(key, None)
                    restored[key] = theirs
                else:
                    project.labels[key] = theirs
        self._apply_to_index(restored)
        words = list(result.theirs)
        self.message.emit(f"Another program changed this project ({', '.join(words)}); taken in.")
        self.disk_changed.emit(words)
        if any(w.endswith(("label change", "label changes")) or w in ("the classes",) for w in words):
            self.labels_changed.emit([])
            self._health_timer.start()
        if "the split" in words:
            self.splits_changed.emit()
        return words

    def _apply_to_index(self, folder_labels: dict[str, str | None] | None = None) -> None:
        """Labels and split assignments from the project onto the listed samples; `folder_labels`:
        pictures without a label edit any more, with the label their folder gives them."""
        project, index = self.project, self.index
        if project is None or index is None:
            return
        folder_labels = folder_labels or {}
        for sample in index.samples:
            key = project.key(sample.path)
            if key in project.labels:
                sample.label = project.labels[key]
            elif key in folder_labels:
                sample.label = folder_labels[key]
            stored = project.split_assignments.get(key)
            if stored is not None and not sample.given_split:
                sample.split = stored

    # ---- reading -----------------------------------------------------------------------------------
    def classes(self) -> list[str]:
        return self.labels.classes() if self.labels is not None else []

    def counts(self) -> dict[str, int]:
        return self.labels.counts() if self.labels is not None else {}

    @property
    def project_dir(self) -> Path | None:
        return self.project.folder if self.project is not None else None

    def _update_health(self) -> None:
        """Summarise the dataset in a worker. Copies are looked for once, after the check (that reads
        files); later summaries after label edits reuse the copies found then."""
        self._health_timer.stop()
        index = self.index
        if index is None:
            return
        if self._health_task is not None:
            self._health_again = True
            return
        find = self.checked and self.duplicate_groups is None

        def job(_ctx):
            from cnnstudio.core.dataset import health_summary

            known = None if find else self.duplicate_groups
            return health_summary(index, find_duplicates=find, known_duplicates=known)

        def done(summary: HealthSummary) -> None:
            if index is not self.index:
                return
            if find:
                self.duplicate_groups = list(summary.duplicate_groups)
            self.health = summary
            self.health_changed.emit(summary)

        def ended() -> None:
            self._health_task = None
            if self._health_again:
                self._health_again = False
                self._health_timer.start()

        self._health_task = self.tasks.start(
            "Looking for copies" if find else "Summarising the dataset",
            job,
            on_success=done,
            on_error=lambda text: self.message.emit(f"The dataset summary is not available: {text}"),
            quiet=not find,
            background=True,
        )
        self._health_task.done.connect(ended)


def _ask_conflicts(conflicts: list[tuple[str, object, object]]) -> bool:
    """Ask which labels to keep when pictures were relabelled both here and in another program.
    True: keep ours."""
    from PySide6.QtWidgets import QApplication, QMessageBox

    shown = "\n".join(
        f"{key}: here {mine or 'unlabelled'}, there {theirs or 'unlabelled'}"
        for key, mine, theirs in conflicts[:10]
    )
    more = f"\n... and {len(conflicts) - 10} more" if len(conflicts) > 10 else ""
    box = QMessageBox(QApplication.activeWindow())
    box.setIcon(QMessageBox.Icon.Question)
    box.setWindowTitle("Labels changed in two places")
    box.setText(
        f"{len(conflicts)} picture(s) were labelled differently here and in another program "
        "since the project was last saved."
    )
    box.setInformativeText(shown + more)
    mine = box.addButton("Keep my labels", QMessageBox.ButtonRole.AcceptRole)
    box.addButton("Take theirs", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(mine)
    box.exec()
    return box.clickedButton() is mine


def _check_in_steps(index: DatasetIndex, ctx: TaskContext) -> None:
    """check_images over growing slices of the index, so the first problems show within seconds.

    Slices double in size (1,000, 2,000, 4,000, ...): few enough that starting worker processes for
    the big ones costs little, small enough at first that the problems list starts filling at once.
    """
    from cnnstudio.core.dataset import DatasetIndex, check_images

    samples = list(index.samples)
    total = len(samples)
    start, step = 0, 1000
    while start < total and not ctx.should_stop():
        part = samples[start : start + step]
        sub = DatasetIndex(source=index.source, layout=index.layout, samples=part)
        offset = start
        check_images(
            sub,
            progress=lambda done, _n, offset=offset: ctx.progress(offset + done, total),
            should_stop=ctx.should_stop,
            # Worker processes even for small slices: decoding threads in this process would hold
            # the GIL the GUI thread needs to paint (measured: stalls of 200-300 ms while scrolling).
            processes=len(part) >= _PROCESSES_FROM,
        )
        ctx.partial([s for s in part if s.problem is not None])
        start += len(part)
        step *= 2
    ctx.progress(total, total)
