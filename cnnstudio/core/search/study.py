"""A hyperparameter search over the project's design and data, with Optuna.

    search = Search.open(project, "lr-and-batch", settings=SearchSettings(space=..., strategy="random"))
    summary = search.run(trials=20, minutes=30, on_event=print)
    spec, config = search.best_settings()       # the best trial's design and training settings

The study lives in the project, in search/<name>.db (SQLite through Optuna's RDBStorage), so it
survives a crash, continues where it stopped when opened again by name, and can be shared by
several processes running the same study at once. What a study searches (design, training
settings, space, strategy, metric, epochs, pruning) is stored in it when it is created; continuing
it changes only the budget.

Each trial is an ordinary training run (runs/<time>-search-<study>-t<N>/ with its metrics and
checkpoints), trained by core.pipeline.train_project; config.json's run_info has {"search": {study,
trial, params}}. After every epoch the trial reports the metric on the validation images to Optuna;
when the pruner says the trial is clearly worse than earlier ones at that epoch, the trainer stops
after that epoch, the run's state.json says "pruned", and the next trial starts.

The value of a finished trial is the metric of its best checkpoint on the validation images
(evaluated by core.pipeline like any run). Trials interrupted by Stop or by a crash are redone when
the study is continued; finished and pruned trials are kept.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnstudio.core.errors import UserError
from cnnstudio.core.search.owners import recover, running
from cnnstudio.core.search.records import SearchEvent, TrialRecord, record_from_trial
from cnnstudio.core.search.settings import SearchSettings
from cnnstudio.core.search.storage import (
    close_storage,
    open_storage_url,
    quiet_optuna,
    storage_label,
    study_exists,
    study_path,
)
from cnnstudio.core.search.trial import StopWatch, TrialReporter, final_value, mark_pruned, trial_settings

if TYPE_CHECKING:
    from collections.abc import Callable

    from cnnstudio.core.pipeline import PreparedData
    from cnnstudio.core.project import Project
    from cnnstudio.core.spec import ModelSpec
    from cnnstudio.core.train import TrainConfig

STUDY_VERSION = 1
DEFAULT_TRIALS = 20
_FAILURES_IN_A_ROW = 3  # this many trials failing in a row with the same message end the search


@dataclass
class SearchSummary:
    study: str
    metric: str
    direction: str
    trials: list[TrialRecord]
    best: TrialRecord | None
    ended_because: str  # "trials" | "time" | "grid" | "stopped" | ""
    seconds: float
    notes: list[str] = field(default_factory=list)

    def count(self, state: str) -> int:
        return sum(1 for t in self.trials if t.state == state)

    def to_dict(self) -> dict[str, Any]:
        return {
            "study": self.study,
            "metric": self.metric,
            "direction": self.direction,
            "ended_because": self.ended_because,
            "seconds": self.seconds,
            "counts": {s: self.count(s) for s in ("complete", "pruned", "failed", "interrupted")},
            "best": self.best.to_dict() if self.best is not None else None,
            "trials": [t.to_dict() for t in self.trials],
            "notes": list(self.notes),
        }


class _TrialFailed(Exception):
    """A trial that cannot give a value (training went unstable, a setting that cannot work)."""


class Search:
    """One study of the project: open it with `Search.open`, then `run`, `trials`, `best_settings`."""

    def __init__(
        self,
        project: Project,
        name: str,
        *,
        spec: ModelSpec,
        config: TrainConfig,
        settings: SearchSettings,
        storage,
        study,
        notes: list[str],
        storage_url: str | None = None,
    ):
        self.project = project
        self.storage_url = storage_url or None
        self.name = name
        self.spec = spec
        self.config = config
        self.settings = settings
        self.notes = notes
        self._storage = storage
        self._study = study
        self._path = study_path(project, name)
        # Where trials are kept: also the key of this study's live trials in this process.
        self.location = storage_label(self.storage_url, self._path)
        self._stop = threading.Event()
        self._trainer = None
        self._trainer_lock = threading.Lock()
        self._should_stop: Callable[[], bool] | None = None

    # ---- opening ---------------------------------------------------------------------------------
    @classmethod
    def exists(cls, project: Project, name: str, storage: str | None = None) -> bool:
        """Whether the study `name` exists: in the project's file, or in the storage URL given."""
        path = study_path(project, name)
        if not storage:
            return path.exists()
        opened = open_storage_url(storage, path)
        try:
            return study_exists(opened, name)
        finally:
            close_storage(opened)

    @classmethod
    def open(
        cls,
        project: Project,
        name: str = "search",
        *,
        spec: ModelSpec | None = None,
        config: TrainConfig | None = None,
        settings: SearchSettings | None = None,
        storage: str | None = None,
    ) -> Search:
        """The study `name` of the project: continued with its stored settings when it exists, else
        created with `spec`, `config` and `settings` (defaults: the project's design and training
        settings, and a search of the learning rate and batch size).

        Continuing a study with a different design or settings is refused: its trials would not be
        comparable. Use another name for a new search.

        `storage` (an Optuna storage URL or ``journal:FILE``) keeps the study elsewhere than in the
        project's search/<name>.db, so that processes on several computers can share it.
        """
        import optuna

        from cnnstudio.core.spec import ModelSpec
        from cnnstudio.core.train import TrainConfig

        quiet_optuna()
        path = study_path(project, name)
        url = storage or None
        if url is None:
            existed = path.exists()
            storage = open_storage_url(None, path)
        else:
            storage = open_storage_url(url, path)
            try:  # a storage that cannot be read is an error, never "no study" (which would create it)
                existed = study_exists(storage, name, f"The search storage {storage_label(url, path)}")
            except UserError:
                close_storage(storage)
                raise
        if not existed:
            created = cls._create(project, name, spec, config, settings, storage, url, path)
            if created is not None:
                return created  # else another process created it meanwhile: continue theirs
        try:
            study = optuna.load_study(study_name=name, storage=storage)
        except KeyError:
            close_storage(storage)
            raise UserError(
                f"{storage_label(url, path)} is not a search of this project (it holds no study {name!r})."
            ) from None
        attrs = study.user_attrs
        for _ in range(100):  # another process has just created it and is storing its settings
            if all(k in attrs for k in ("spec", "train_config", "settings")):
                break
            time.sleep(0.1)
            attrs = study.user_attrs
        stored_spec = ModelSpec.from_dict(attrs["spec"])
        stored_config = TrainConfig.from_dict(attrs["train_config"])
        stored_settings = SearchSettings.from_dict(attrs["settings"])
        differs = []
        if spec is not None and spec.to_dict() != stored_spec.to_dict():
            differs.append("the model design")
        if config is not None and config.to_dict() != stored_config.to_dict():
            differs.append("the training settings")
        if settings is not None:
            mine, theirs = settings.to_dict(), stored_settings.to_dict()
            differs += [k for k in mine if k != "schema_version" and mine[k] != theirs.get(k)]
        if differs:
            close_storage(storage)
            raise UserError(
                f"The search {name!r} already exists with other settings ({', '.join(differs)} differ). "
                "Continue it as it is, or give the new search another name."
            )
        space, notes = stored_settings.space.for_design(stored_spec)
        stored_settings.space = space
        return cls(
            project,
            name,
            spec=stored_spec,
            config=stored_config,
            settings=stored_settings,
            storage=storage,
            study=study,
            notes=notes,
            storage_url=url,
        )

    @classmethod
    def _create(cls, project, name, spec, config, settings, storage, url, path) -> Search | None:
        """A new study with these settings (stored in it once, by its creator); None when another
        process created the study first (its stored settings are never overwritten)."""
        import optuna

        from cnnstudio.core.pipeline import resolve_spec
        from cnnstudio.core.search.space import default_space
        from cnnstudio.core.train import TrainConfig

        try:
            spec = spec if spec is not None else resolve_spec(project)
            if config is None:
                config = (
                    TrainConfig.from_dict(project.train_config) if project.train_config else TrainConfig()
                )
            config.validate()
            settings = settings if settings is not None else SearchSettings(space=default_space(spec))
            space, notes = settings.space.for_design(spec)
            settings = SearchSettings.from_dict({**settings.to_dict(), "space": space.to_dict()})
            settings.validate()
        except BaseException:
            close_storage(storage)
            if url is None:
                path.unlink(missing_ok=True)
            raise
        try:
            study = optuna.create_study(
                study_name=name, storage=storage, direction=settings.metric_info.direction
            )
        except optuna.exceptions.DuplicatedStudyError:
            return None
        study.set_user_attr("schema_version", STUDY_VERSION)
        study.set_user_attr("spec", spec.to_dict())
        study.set_user_attr("train_config", config.to_dict())
        study.set_user_attr("settings", settings.to_dict())
        study.set_user_attr("project", project.name)
        return cls(
            project,
            name,
            spec=spec,
            config=config,
            settings=settings,
            storage=storage,
            study=study,
            notes=notes,
            storage_url=url,
        )

    def close(self) -> None:
        """Let go of the database file (the study stays in it)."""
        close_storage(self._storage)

    # ---- reading ---------------------------------------------------------------------------------
    @property
    def path(self) -> Path:
        return self._path

    @property
    def metric(self):
        return self.settings.metric_info

    def trials(self) -> list[TrialRecord]:
        return [record_from_trial(t) for t in self._study.get_trials(deepcopy=False)]

    def best(self) -> TrialRecord | None:
        done = [t for t in self.trials() if t.state == "complete" and t.value is not None]
        if not done:
            return None
        pick = max if self.metric.higher_is_better else min
        return pick(done, key=lambda t: t.value)

    def trial_settings(self, params: dict[str, Any]) -> tuple[ModelSpec, TrainConfig]:
        """The design and training settings a trial with `params` trains with."""
        return trial_settings(self.spec, self.config, self.settings, params)

    def best_settings(self) -> tuple[ModelSpec, TrainConfig]:
        """The best finished trial's design and training settings (what "Use the best settings" uses)."""
        best = self.best()
        if best is None:
            raise UserError(f"The search {self.name!r} has no finished trial yet, so there is no best one.")
        return self.trial_settings(best.params)

    def use_best_settings(self, project: Project | None = None) -> tuple[ModelSpec, TrainConfig]:
        """Make the best trial's design and training settings the project's own, and save the project."""
        project = project or self.project
        spec, config = self.best_settings()
        project.spec = spec.to_dict()
        project.train_config = config.to_dict()
        project.save()
        return spec, config

    def target_trials(self, trials: int | None) -> int:
        if trials is not None:
            return trials
        if self.settings.strategy == "grid":
            return self.settings.space.grid_size(self.settings.grid_points)
        return DEFAULT_TRIALS

    def summary(self, ended_because: str = "", seconds: float = 0.0) -> SearchSummary:
        return SearchSummary(
            self.name,
            self.settings.metric,
            self.metric.direction,
            self.trials(),
            self.best(),
            ended_because,
            seconds,
            list(self.notes),
        )

    # ---- control ---------------------------------------------------------------------------------
    def stop(self) -> None:
        """From any thread: stop the trial in training after its current batch and start no other.

        Finished and pruned trials are kept; the stopped trial is redone when the search continues.
        """
        self._stop.set()
        with self._trainer_lock:
            if self._trainer is not None:
                self._trainer.request_stop()

    def enqueue(self, params: dict[str, Any]) -> None:
        """Try these settings next (before the strategy picks any); values may lie outside the space."""
        self._study.enqueue_trial(dict(params))

    def stop_requested(self) -> bool:
        return self._stop.is_set() or bool(self._should_stop is not None and self._should_stop())

    # ---- running ---------------------------------------------------------------------------------
    def run(
        self,
        *,
        trials: int | None = None,
        minutes: float | None = None,
        data: PreparedData | None = None,
        on_event: Callable[[SearchEvent], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
        callbacks=(),
    ) -> SearchSummary:
        """Run trials until the study has `trials` of them (default: 20, or the whole grid) or
        `minutes` have passed (no trial starts after that; the one running finishes).

        `callbacks` are extra training callbacks for every trial (a progress bar).
        """
        import optuna

        from cnnstudio.core.pipeline import prepare_data

        if trials is not None and trials < 1:
            raise UserError("The number of trials must be at least 1.")
        if minutes is not None and not minutes > 0:
            raise UserError("The time budget must be a positive number of minutes.")
        self._should_stop = should_stop
        self._emit = on_event or (lambda _event: None)
        self._callbacks = list(callbacks)
        start = time.monotonic()
        target = self.target_trials(trials)
        retried = recover(self._study, self._storage, self.location)
        if retried:
            self._emit(SearchEvent("message", text=f"{retried} interrupted trial(s) will be redone first."))
        done = self._done_count()
        if done >= target:
            self._stop.clear()
            return self.summary("trials", 0.0)
        if data is None:
            self._emit(SearchEvent("message", text="Checking and decoding the pictures..."))
            from cnnstudio.core.dataset.cache import DecodeStopped

            try:
                data = prepare_data(self.project, self.spec, should_stop=self.stop_requested)
            except DecodeStopped:
                self._stop.clear()
                return self.summary("stopped", time.monotonic() - start)
        if len(data.splits["val"].y) == 0:
            raise UserError(
                "A search compares trials on the validation pictures, and this project has none. "
                "Give the validation split a share of the pictures (Data section) and try again."
            )
        self._data = data
        self._target = target
        self._failures: list[str] = []
        self._ended_because = ""
        sampler = self._sampler()
        study = optuna.load_study(
            study_name=self.name, storage=self._storage, sampler=sampler, pruner=self._pruner()
        )
        self._study = study
        if not self.stop_requested():
            study.optimize(
                self._objective,
                n_trials=target - done,
                timeout=minutes * 60 if minutes else None,
                catch=(_TrialFailed,),
                callbacks=[self._after_trial],
            )
        seconds = time.monotonic() - start
        ended = self._ended_because
        if not ended:
            if self.stop_requested():
                ended = "stopped"
            elif self._done_count() >= target:
                ended = "trials"
            elif minutes and seconds >= minutes * 60:
                ended = "time"
            elif self.settings.strategy == "grid":
                ended = "grid"
        self._stop.clear()  # a Stop ends this run only; the next run() starts afresh
        if self._failures and len(self._failures) >= _FAILURES_IN_A_ROW and len(set(self._failures)) == 1:
            raise UserError(
                f"The search stopped: {_FAILURES_IN_A_ROW} trials in a row failed. {self._failures[-1]}"
            )
        return self.summary(ended, seconds)

    def _sampler(self):
        import optuna

        s = self.settings
        # Seeded, and offset by the trials already made, so a continued study does not draw the
        # same settings again as it did at its start.
        seed = s.seed + len(self._study.get_trials(deepcopy=False))
        if s.strategy == "grid":
            return optuna.samplers.GridSampler(s.space.grid(s.grid_points), seed=s.seed)
        if s.strategy == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        # Five random trials first (Optuna's default is ten: half of a 20-trial budget), then TPE.
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=5)

    def _pruner(self):
        import optuna

        s = self.settings
        if s.pruning == "none" or s.epochs < 2:
            return optuna.pruners.NopPruner()
        if s.pruning == "median":
            return optuna.pruners.MedianPruner(n_startup_trials=s.prune_after, n_warmup_steps=0)
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)

    def _done_count(self) -> int:
        return sum(1 for t in self.trials() if t.counts_as_done)

    def _set_trainer(self, trainer) -> None:
        with self._trainer_lock:
            self._trainer = trainer
            if trainer is not None and self._stop.is_set():
                trainer.request_stop()

    def _objective(self, trial) -> float:
        import optuna

        from cnnstudio.core import pipeline

        with running(self.location, trial):
            s = self.settings
            params = s.space.suggest(trial, grid=s.strategy == "grid", points=s.grid_points)
            self._emit(SearchEvent("trial_started", trial.number, params=params))
            if self.stop_requested():
                self._interrupted(trial, "Stopped before it started.")
            spec, config = self.trial_settings(params)
            reporter = TrialReporter(self, trial, self._data)
            watchers = [StopWatch(self._should_stop)] if self._should_stop is not None else []

            def keep(trainer) -> None:
                trainer.run_info["search"] = {"study": self.name, "trial": trial.number, "params": params}
                trial.set_user_attr("run", trainer.run_dir.name)
                self._set_trainer(trainer)

            try:
                result = pipeline.train_project(
                    self.project,
                    spec,
                    config,
                    callbacks=[reporter, *watchers, *self._callbacks],
                    label=f"search-{self.name}-t{trial.number}",
                    data=self._data,
                    on_trainer=keep,
                    evaluate=(),  # scored below on validation, unless pruned; the test split is for the end
                )
            except UserError as exc:
                trial.set_user_attr("message", str(exc))
                raise _TrialFailed(str(exc)) from exc
            except KeyboardInterrupt:  # Ctrl+C: Optuna marks the trial failed; it is redone on resume
                trial.set_user_attr("interrupted", True)
                trial.set_user_attr("message", "Interrupted; it is redone when the search continues.")
                raise
            finally:
                self._set_trainer(None)
            history = result.history
            if reporter.pruned_at is not None:
                epochs = reporter.pruned_at + 1
                message = (
                    f"Stopped after epoch {epochs} of {config.epochs}: clearly worse than earlier trials "
                    f"at that point ({s.metric_info.label.lower()} {reporter.last_value:.4g})."
                )
                trial.set_user_attr("message", message)
                mark_pruned(result.run_dir, message)
                raise optuna.TrialPruned(message)
            if history.status == "stopped":
                self._interrupted(trial, "Stopped by you; it is redone when the search continues.")
            if history.status == "crashed":
                message = history.message or "Training failed."
                trial.set_user_attr("message", message)
                raise _TrialFailed(message)
            # Only a trial that finished is scored: a pruned one is never evaluated on validation.
            report = pipeline.evaluate_run(self.project, result.run_dir, split="val", data=self._data)
            value = final_value(s.metric, report)
            trial.set_user_attr("message", history.message)
            return value

    def _interrupted(self, trial, message: str) -> None:
        trial.set_user_attr("interrupted", True)
        trial.set_user_attr("message", message)
        trial.study.stop()
        raise _TrialFailed(message)

    def _after_trial(self, study, frozen) -> None:
        record = record_from_trial(frozen)
        if record.state == "failed":
            self._failures.append(record.message)
            if (
                len(self._failures) >= _FAILURES_IN_A_ROW
                and len(set(self._failures[-_FAILURES_IN_A_ROW:])) == 1
            ):
                self._failures = self._failures[-_FAILURES_IN_A_ROW:]
                study.stop()
        elif record.state != "interrupted":
            self._failures = []
        self._emit(SearchEvent("trial_finished", record.number, record=record, value=record.value))
        if self.stop_requested():
            study.stop()
        elif self._done_count() >= self._target:
            self._ended_because = "trials"
            study.stop()
