"""The jobs the CLI and the GUI both run: open data as a project, train a run, evaluate a run.

Each step reports through plain callbacks and honours a stop flag, so the GUI's workers and the
CLI's progress bars are thin adapters over the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cnnstudio.core.errors import UserError
from cnnstudio.core.paths import user_data_dir
from cnnstudio.core.project import PROJECT_FILE, Project, SplitData
from cnnstudio.core.runs import BEST_WEIGHTS

if TYPE_CHECKING:
    from cnnstudio.core.evaluate import EvaluationReport
    from cnnstudio.core.spec import ModelSpec
    from cnnstudio.core.train import History, TrainConfig


def open_or_create_project(source: Path | str, project_dir: Path | str | None = None) -> Project:
    """SOURCE is a project folder, or a dataset (folder or CSV) for which a project is made or reused.

    Without `project_dir`, a dataset's project lives in the user data folder, named after the dataset.
    """
    source = Path(source).expanduser()
    if not source.exists():
        raise UserError(f"{source} does not exist.")
    if (source / PROJECT_FILE).exists():
        return Project.open(source)
    source = source.resolve()
    if project_dir is None:
        project_dir = user_data_dir() / "projects" / (source.stem or "dataset")
    project_dir = Path(project_dir).expanduser().resolve()
    if (project_dir / PROJECT_FILE).exists():
        project = Project.open(project_dir)
        if project.source is None or project.source.resolve() != source:
            raise UserError(
                f"{project_dir} is already a project for another folder ({project.source}). "
                "Choose another project folder with --project."
            )
        return project
    from cnnstudio.core.dataset import scan_source

    scan_source(source)  # a missing or empty dataset is refused before any project is made
    return Project.create(project_dir, source)


def resolve_spec(
    project: Project, template_name: str | None = None, spec_file: Path | None = None
) -> ModelSpec:
    """The model design: a spec file, a template, the project's own design, or the Seed CNN."""
    from cnnstudio.core.spec import ModelSpec, template

    if spec_file is not None:
        return ModelSpec.load(spec_file)  # a missing, unreadable or damaged file is a UserError
    if template_name is not None:
        return template(template_name)
    if project.spec is not None:
        return ModelSpec.from_dict(project.spec)
    return template("seed")


@dataclass
class PreparedData:
    splits: dict[str, SplitData]
    class_names: list[str]
    manifest_hash: str
    warnings: list[str]


def prepare_data(project: Project, spec: ModelSpec, progress=None, should_stop=None) -> PreparedData:
    """Index (with the full check), split, and decode into the cache at the design's input size."""
    index = project.index(check=True, progress=progress, should_stop=should_stop)
    prep = spec.preprocessing()
    splits, names = project.arrays(
        index,
        prep.height,
        prep.width,
        1 if prep.channels == "L" else 3,
        prep.fit,
        progress=progress,
        should_stop=should_stop,
    )
    if len(splits["train"].y) == 0:
        raise UserError("There are no training images. Check that the folder has one sub-folder per class.")
    return PreparedData(splits, names, project.manifest_hash(index), list(project.warnings))


@dataclass
class TrainingResult:
    run_dir: Path
    history: History
    precision: str
    device: str
    reports: dict[str, EvaluationReport]  # "val" / "test" when those splits have images
    data: PreparedData


def claimed_run_dir(project: Project, run_name: str) -> Path:
    """The empty run folder `run_name` that a parent process made for this training."""
    from cnnstudio.core.runs import CONFIG_FILE

    run_dir = Path(project.runs_dir) / run_name
    if Path(run_name).name != run_name or not run_dir.is_dir() or (run_dir / CONFIG_FILE).exists():
        raise UserError(f"The run folder {run_name} is not a new, empty run folder of {project.folder}.")
    return run_dir


def train_project(
    project: Project,
    spec: ModelSpec,
    config: TrainConfig,
    *,
    callbacks=(),
    label: str | None = None,
    resume: Path | None = None,
    init_weights: Path | None = None,
    data: PreparedData | None = None,
    on_trainer=None,
    evaluate: tuple[str, ...] = ("val", "test"),
    epochs: int | None = None,
    run_name: str | None = None,
) -> TrainingResult:
    """Train a new run (or resume one) and evaluate its best weights on the `evaluate` splits.

    `on_trainer(trainer)` is called once the trainer exists, so a GUI can keep it for pause and stop.
    `epochs` with `resume` trains that run to a new total (a finished run trained further).
    `run_name`: an empty run folder the caller made beforehand (so that it knows which run is its own).
    A run that failed (unstable loss, out of memory) is not evaluated: `result.history.error` says why.
    """
    from cnnstudio.core.runs import new_run_dir, refuse_if_training
    from cnnstudio.core.spec import infer_shapes
    from cnnstudio.core.train import Trainer, distributed

    if resume is not None and distributed.current() is None:  # a group's starter has checked
        refuse_if_training(Path(resume))  # before the pictures are decoded for nothing
    data = data or prepare_data(project, spec)
    report = infer_shapes(spec, len(data.class_names))
    if report.error:
        raise UserError(report.error)
    train = (data.splits["train"].X, data.splits["train"].y)
    val = (data.splits["val"].X, data.splits["val"].y) if len(data.splits["val"].y) else None
    run_info = {
        "project": project.name,
        "dataset_manifest_hash": data.manifest_hash,
        "class_names": data.class_names,
        "split": {
            "seed": project.split_seed,
            "ratios": list(project.split_ratios),
            "counts": {k: len(v.y) for k, v in data.splits.items()},
            # how many of each split's pictures are suggestions accepted in bulk (core.dataset.split)
            "accepted_suggestions": {k: v.suggested for k, v in data.splits.items()},
        },
    }
    if resume is not None:
        trainer = Trainer.resume_run(Path(resume), callbacks=callbacks, epochs=epochs)
        run_dir = Path(resume)
    else:
        # a distributed run: rank 0 makes the run id and every process gets it (only rank 0 writes)
        made = None
        if distributed.is_rank0():
            made = (
                claimed_run_dir(project, run_name)
                if run_name
                else new_run_dir(project.runs_dir, label or spec.name or "run")
            )
        run_dir = project.runs_dir / distributed.broadcast_object(made.name if made else None)
        trainer = Trainer(
            spec,
            config,
            class_names=data.class_names,
            preprocessing=spec.preprocessing(),
            run_dir=run_dir,
            callbacks=callbacks,
            run_info=run_info,
            init_weights=resolve_init_weights(init_weights),
        )
    trainer.feature_cache_dir = project.cache_dir  # a frozen prefix's features (core/train/features.py)
    if on_trainer is not None:
        on_trainer(trainer)
    history = trainer.fit(train, val)
    if history.error is None and distributed.is_rank0():  # one process writes the run's files
        calibrate_run(project, run_dir, data=data)
    reports = {}
    for split in evaluate if history.error is None and distributed.is_rank0() else ():
        if len(data.splits[split].y):
            reports[split] = evaluate_run(project, run_dir, split=split, data=data)
    return TrainingResult(run_dir, history, trainer.precision_label, str(trainer.device), reports, data)


def resolve_init_weights(source: Path | str | None):
    """Fine-tuning starts from a run folder (its best weights), a weights file, or a .cnnmodel bundle."""
    if source is None:
        return None
    source = Path(source)
    if source.suffix == ".cnnmodel":
        from cnnstudio.core.export import bundle_weights_for_init

        state, _spec = bundle_weights_for_init(source)
        return state
    if source.is_dir():
        best = source / BEST_WEIGHTS
        if not best.exists():
            raise UserError(f"{source} has no trained weights to start from.")
        return best
    if not source.exists():
        raise UserError(f"{source} does not exist.")
    return source


def evaluate_run(
    project: Project,
    run_dir: Path,
    *,
    split: str = "test",
    folder: Path | None = None,
    data: PreparedData | None = None,
    progress=None,
) -> EvaluationReport:
    """Evaluate a run's best weights on a split of the project, or on another folder of class folders."""
    import numpy as np

    from cnnstudio.core.dataset import DecodeCache, check_images, scan_source
    from cnnstudio.core.evaluate import evaluate_model
    from cnnstudio.core.train import load_run_weights

    model, _spec, prep_dict, class_names = load_run_weights(run_dir, which="best")
    from cnnstudio.core.spec import Preprocessing

    prep = Preprocessing.from_dict(prep_dict) if isinstance(prep_dict, dict) else prep_dict
    channels = 1 if prep.channels == "L" else 3
    if folder is not None:
        index = check_images(scan_source(folder), progress=progress)
        samples = [s for s in index.samples if s.problem is None and s.label is not None]
        unknown = sorted({s.label for s in samples} - set(class_names))
        if unknown:
            raise UserError(
                f"The folder has classes the model does not know: {', '.join(unknown)}. "
                f"The model knows: {', '.join(class_names)}."
            )
        if not samples:
            raise UserError(f"{folder} has no labelled images (one sub-folder per class).")
        paths = [s.path for s in samples]
        y = np.array([class_names.index(s.label) for s in samples], dtype=np.int64)
        X = DecodeCache(project.cache_dir).load(
            paths, prep.height, prep.width, channels, prep.fit, progress=progress
        )
        split_name = str(folder)
    else:
        splits = run_splits(project, prep, class_names, data, progress)
        if len(splits[split].y) == 0:
            raise UserError(f"The {split} split has no images.")
        X, y, paths = splits[split].X, splits[split].y, splits[split].paths
        split_name = split
    from cnnstudio.core.train.features import evaluation_inputs
    from cnnstudio.core.trust import Calibration

    calibration = Calibration.load(run_dir)
    net, net_input = evaluation_inputs(model, prep, project.cache_dir)  # cached frozen features, if any
    report = evaluate_model(
        net, X, y, class_names=class_names, preprocessing=net_input, paths=paths, calibration=calibration
    )
    report.split = split_name
    report.run = run_dir.name
    # A folder of class folders is labelled by whoever sorted it, never by accepting suggestions here.
    suggested = 0 if folder is not None else splits[split].suggested
    apart = None
    if folder is None and split == "val" and "val_apart" in splits:  # suggestions counted apart
        extra = splits["val_apart"]
        scored = evaluate_model(net, extra.X, extra.y, class_names=class_names, preprocessing=net_input)
        apart = {"pictures": len(extra.y), "accuracy": scored.accuracy}
    report.graded = {
        "pictures": len(y),
        "by_people": suggested == 0,
        "accepted_suggestions": int(suggested),
        "apart": apart,
    }
    if folder is None:
        report.save(run_dir / f"evaluation_{split}.json")
        if split == "test" or not (run_dir / "evaluation.json").exists():
            report.save(run_dir / "evaluation.json")
    return report


def calibrate_run(project: Project, run_dir: Path, *, data: PreparedData | None = None, progress=None):
    """Fit a run's temperature and unknown score on its project's pictures; write calibration.json.

    Done at the end of training; for a run trained before calibration existed, on demand
    (`cnnstudio evaluate --recalibrate`). The weights are not changed. Returns the Calibration.
    """
    from cnnstudio.core.spec import Preprocessing
    from cnnstudio.core.train import load_run_weights
    from cnnstudio.core.trust import fit_trust

    model, _spec, prep_dict, class_names = load_run_weights(run_dir, which="best")
    prep = Preprocessing.from_dict(prep_dict) if isinstance(prep_dict, dict) else prep_dict
    splits = run_splits(project, prep, class_names, data, progress)
    calibration = fit_trust(
        model, prep, splits["train"].X, splits["train"].y, splits["val"].X, splits["val"].y
    )
    calibration.save(run_dir)
    return calibration


def recalibrate_if_outdated(project: Project, run_dir: Path, *, progress=None) -> bool:
    """Calibrate again a run whose calibration is from before core.trust (its unknown score is not
    used); True when it did. A run without any calibration is left alone (it may be training)."""
    from cnnstudio.core.trust import Calibration

    try:
        outdated = Calibration.load(run_dir).outdated
    except UserError:
        return False
    if outdated:
        calibrate_run(project, run_dir, progress=progress)
    return outdated


def run_splits(
    project: Project, prep, class_names: list[str], data: PreparedData | None = None, progress=None
):
    """The project's decoded splits for a run's preprocessing (`data` when already prepared), refused
    in words when the project's classes are no longer the ones the run was trained on."""
    if data is None:
        channels = 1 if prep.channels == "L" else 3
        index = project.index(check=True, progress=progress)
        splits, names = project.arrays(index, prep.height, prep.width, channels, prep.fit, progress=progress)
    else:
        splits, names = data.splits, data.class_names
    if names != class_names:
        raise UserError(
            "The project's classes changed since this run was trained "
            f"(run: {', '.join(class_names)}; now: {', '.join(names)}). Train a new run."
        )
    return splits
