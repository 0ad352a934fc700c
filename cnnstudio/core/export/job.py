"""The export job the CLI and the GUI share: write a format, load it back, check it, then keep it.

The file is first written beside the target under a temporary name, loaded back the way its users
will load it (onnxruntime for ONNX, torch.jit.load for TorchScript, the bundle reader for a bundle)
and run on the validation images. Only when it gives the app's class for every image and no
probability differs by 1e-4 or more is it renamed into place; otherwise it is deleted and a
UserError says what differed. An existing file at the target is never replaced by a bad export.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnstudio.core.errors import UserError
from cnnstudio.core.export.verify import VerificationResult, verify_export

if TYPE_CHECKING:
    from cnnstudio.core.export.loaded import LoadedModel
    from cnnstudio.core.project import Project, SplitData

FORMATS = ("bundle", "onnx", "torchscript", "pt2")
SUFFIXES = {"bundle": ".cnnmodel", "onnx": ".onnx", "torchscript": ".pt", "pt2": ".pt2"}
ACCEPTED_SUFFIXES = {
    "bundle": {".cnnmodel"},
    "onnx": {".onnx"},
    "torchscript": {".pt", ".pth", ".ts", ".torchscript"},
    "pt2": {".pt2"},  # torch.export's ExportedProgram (exported_program.py)
}
VERIFY_IMAGES = 2000  # at most this many validation images (evenly spread) are used for the check
GENERATED_IMAGES = 64
EXAMPLE_NAME = "predict_example.py"
EXAMPLE_MARKER = "Predict pictures with a CNN Studio ONNX export"


@dataclass
class ExportResult:
    path: Path
    format: str
    verification: VerificationResult
    extra_files: list[Path] = field(default_factory=list)  # predict_example.py, the TorchScript metadata

    @property
    def message(self) -> str:
        return self.verification.message

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "format": self.format,
            "verification": self.verification.to_dict(),
            "extra_files": [str(p) for p in self.extra_files],
        }


def output_path(out: Path | str, fmt: str, default_stem: str) -> Path:
    """Where the export goes: `out` itself, `out`/<default_stem><suffix> when `out` is a folder, and
    the format's suffix added when `out` does not end with one of its suffixes. `out` names a folder
    when it is one or ends with a slash."""
    names_folder = str(out).endswith(("/", os.sep))  # "exports/" means a folder, made if needed
    out = Path(out).expanduser()
    if out.is_dir() or names_folder:
        return out / f"{default_stem}{SUFFIXES[fmt]}"
    if out.suffix.lower() not in ACCEPTED_SUFFIXES[fmt]:
        out = out.with_name(out.name + SUFFIXES[fmt])
    return out


def export_run(
    project: Project | Path | str,
    fmt: str,
    out: Path | str,
    *,
    run: str | None = None,
    max_images: int = VERIFY_IMAGES,
    progress=None,
    overwrite: bool = False,
) -> ExportResult:
    """Export a project's run (its newest, or `run`) and verify it on the project's validation images.

    `overwrite`: replace a file beside the export that is not ours (TorchScript's <name>.json)."""
    from cnnstudio.core.export.card import model_card
    from cnnstudio.core.export.loaded import load_run
    from cnnstudio.core.project import Project
    from cnnstudio.core.runs import find_run

    _check_format(fmt)
    if not isinstance(project, Project):
        project = Project.open(project)
    run_dir = find_run(project, run)
    loaded = load_run(run_dir)
    loaded.source = f"run {run_dir.name} of project {project.name}"
    split, on = _verification_split(project, loaded, progress)
    if split is not None:
        images = _spread(split.X, max_images)
        if len(images) < len(split.X):
            on = f"of {len(split.X):,} {on}"  # "verified on 2,000 of 9,000 validation images"
    else:
        images = _generated_images(loaded)
    card = None
    if fmt == "bundle":
        evaluation = None
        if not (run_dir / "evaluation.json").exists() and split is not None and len(split.y):
            evaluation = _evaluate(loaded, split)
        card = model_card(
            class_names=loaded.class_names,
            spec=loaded.spec,
            params=sum(p.numel() for p in loaded.model.parameters()),
            run_dir=run_dir,
            project_name=project.name,
            evaluation=evaluation,
        )
    target = output_path(out, fmt, f"{project.name}-{run_dir.name}")
    return export_model(loaded, fmt, target, images, on=on, card=card, overwrite=overwrite)


def export_model(
    loaded: LoadedModel,
    fmt: str,
    out: Path | str,
    images: np.ndarray,
    *,
    on: str = "validation images",
    card: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> ExportResult:
    """Write `loaded` as `fmt` to `out`, verified on `images` (uint8 (N, C, H, W)); see the module docstring.

    `overwrite`: replace a file beside the export that is not ours (TorchScript's <name>.json)."""
    from cnnstudio.core.evaluate import predict_probabilities
    from cnnstudio.core.export.bundle_write import write_bundle
    from cnnstudio.core.export.onnx_export import write_onnx
    from cnnstudio.core.export.torchscript_export import (
        check_metadata_target,
        write_torchscript,
        write_torchscript_metadata,
    )

    _check_format(fmt)
    out = Path(out)
    if fmt == "bundle" and loaded.spec is None:
        raise UserError("Only a model made in the designer (from a model design) can be saved as a bundle.")
    if fmt == "torchscript" and out.suffix.lower() == ".json":
        raise UserError("A TorchScript file's name should end in .pt; .json is for the metadata beside it.")
    if fmt == "torchscript":
        check_metadata_target(out, overwrite)  # before any work, so nothing is half written
    calibration = loaded.calibration
    if calibration is not None and calibration.fitted:
        from cnnstudio.core.trust import predict_calibrated

        app = predict_calibrated(loaded.model, images, loaded.preprocessing, calibration)
        reference, reference_scores = app.probs, app.unknown_scores
    else:
        calibration = None
        reference = predict_probabilities(loaded.model, images, loaded.preprocessing)
        reference_scores = None
    threshold = calibration.threshold if reference_scores is not None else None
    prep, names = loaded.preprocessing, loaded.class_names

    def write(temp: Path) -> None:
        if fmt == "bundle":
            write_bundle(
                temp,
                loaded.model,
                spec=loaded.spec,
                preprocessing=prep,
                class_names=names,
                card=card or {},
                calibration=calibration,
            )
        elif fmt == "onnx":
            write_onnx(temp, loaded.model, prep, names, calibration=calibration)
        elif fmt == "pt2":
            from cnnstudio.core.export.exported_program import write_exported_program

            write_exported_program(temp, loaded.model, prep, names, calibration)
        else:
            write_torchscript(temp, loaded.model, prep, names, calibration)

    result = write_verified(
        out,
        write,
        lambda temp: verify_export(
            fmt,
            temp,
            images,
            reference,
            on=on,
            reference_scores=reference_scores,
            unknown_threshold=threshold,
        ),
        refused="The export was not saved, because it would not predict what the app predicts; "
        "please report this, and export in another format meanwhile.",
    )
    extra = []
    if fmt == "onnx":
        extra.append(write_predict_example(out))
    elif fmt == "torchscript":
        extra.append(write_torchscript_metadata(out, prep, names, calibration, overwrite=overwrite))
    return ExportResult(out, fmt, result, extra)


def write_verified(
    out: Path,
    write: Callable[[Path], None],
    verify: Callable[[Path], VerificationResult],
    *,
    refused: str,
) -> VerificationResult:
    """Write to a hidden file beside `out`, load it back and check it, and only then put it at `out`.

    A check that fails raises a UserError (its message, then `refused`); the temporary file is
    removed whatever happens, and a file already at `out` is left as it was.
    """
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"The folder {out.parent} cannot be created ({exc.strerror or exc}).") from exc
    temp = out.with_name(f".{out.name}.partial{out.suffix}")
    try:
        write(temp)
        result = verify(temp)
        if not result.ok:
            raise UserError(f"{result.message}. {refused}")
        os.replace(temp, out)
    except OSError as exc:
        raise UserError(f"{out} cannot be written ({exc.strerror or exc}).") from exc
    finally:
        temp.unlink(missing_ok=True)
    return result


def write_predict_example(onnx_path: Path) -> Path:
    """predict_example.py next to the ONNX file, reading that file by default.

    An existing predict_example.py written by us is replaced; a file of the user's with that name
    is left alone and the example gets the model's name instead.
    """
    source = resources.files("cnnstudio.core.export").joinpath(EXAMPLE_NAME).read_text(encoding="utf-8")
    line = 'MODEL_FILE = "model.onnx"'
    assert line in source, "the template's MODEL_FILE line changed"
    source = source.replace(line, f"MODEL_FILE = {onnx_path.name!r}", 1)
    target = onnx_path.with_name(EXAMPLE_NAME)
    if target.exists() and EXAMPLE_MARKER not in target.read_text(encoding="utf-8", errors="replace"):
        target = onnx_path.with_name(f"predict_example_{onnx_path.stem}.py")
    target.write_text(source, encoding="utf-8")
    return target


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise UserError(f"Unknown export format {fmt!r}; choose one of {', '.join(FORMATS)}.")


def _verification_split(project: Project, loaded: LoadedModel, progress) -> tuple[SplitData | None, str]:
    """The project's validation images at the model's input size (test or training images when the
    validation split is empty), or None when the pictures cannot be found."""
    prep = loaded.preprocessing
    try:
        index = project.index(check=True, progress=progress)
        splits, names = project.arrays(
            index, prep.height, prep.width, prep.num_channels, prep.fit, progress=progress
        )
    except UserError:
        return None, "generated pictures (the project's pictures cannot be found)"
    for split, words in (("val", "validation images"), ("test", "test images"), ("train", "training images")):
        data = splits[split]
        if len(data.y):
            if names != loaded.class_names:
                data.y = np.zeros(0, dtype=np.int64)  # labels in another class order mean nothing here
            return data, words
    return None, "generated pictures (the project has no usable pictures)"


def _spread(X: np.ndarray, limit: int) -> np.ndarray:
    if len(X) <= limit:
        return np.asarray(X)
    return np.asarray(X[np.linspace(0, len(X) - 1, limit).round().astype(int)])


def _generated_images(loaded: LoadedModel) -> np.ndarray:
    prep = loaded.preprocessing
    rng = np.random.default_rng(0)
    return rng.integers(
        0, 256, (GENERATED_IMAGES, prep.num_channels, prep.height, prep.width), dtype=np.uint8
    )


def _evaluate(loaded: LoadedModel, split: SplitData) -> dict[str, Any]:
    from cnnstudio.core.evaluate import evaluate_model

    report = evaluate_model(
        loaded.model, split.X, split.y, class_names=loaded.class_names, preprocessing=loaded.preprocessing
    )
    report.split = "val"
    return report.to_dict()
