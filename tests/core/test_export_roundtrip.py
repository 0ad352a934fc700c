"""Each export format on a tiny trained model: written, verified, loaded back, predicting like the app.

One real training run (through the CLI, as a user would make it) is shared by the whole module.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from image_fixtures import write_tiny_image_folder
from test_export_example import write_varied_pictures

from cnnstudio.cli import main
from cnnstudio.core.export import (
    CLASSES_KEY,
    PREPROCESSING_KEY,
    LoadedModel,
    Predictor,
    bundle_weights_for_init,
    export_model,
    export_run,
    load_model,
    load_torchscript,
    read_bundle,
    read_onnx_metadata,
)
from cnnstudio.core.project import Project
from cnnstudio.core.spec import ModelSpec, Preprocessing, build_model, template

FORMATS = ["bundle", "onnx", "torchscript"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("roundtrip")
    data = write_tiny_image_folder(root / "data", classes=3, per_class=12, size=24)
    argv = ["train", str(data), "--project", str(root / "project"), "--template", "tiny"]
    argv += ["--epochs", "3", "--batch-size", "8", "--lr", "0.01", "--json"]
    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()):
        assert main(argv) == 0
    run = json.loads(out.getvalue())["run"]
    project = Project.open(root / "project")
    app = load_model(project.folder)
    index = project.index(check=True)
    prep = app.preprocessing
    splits, _ = project.arrays(index, prep.height, prep.width, prep.num_channels, prep.fit)
    val = np.asarray(splits["val"].X)
    exports = {fmt: export_run(project, fmt, f"{root}/exports/{fmt}/") for fmt in FORMATS}
    return SimpleNamespace(root=root, data=data, project=project, run=run, app=app, val=val, exports=exports)


def test_the_shared_run_is_real(trained):
    assert trained.app.source == f"run {trained.run} of project {trained.project.name}"
    assert trained.app.class_names == ["class_0", "class_1", "class_2"]
    assert len(trained.val) > 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_export_is_verified_on_the_validation_images(trained, fmt):
    result = trained.exports[fmt]
    name = {"bundle": "Bundle", "onnx": "ONNX", "torchscript": "TorchScript"}[fmt]
    n = len(trained.val)
    assert result.verification.ok
    assert result.verification.images == result.verification.same_top1 == n
    assert result.verification.max_abs_diff < 1e-4
    assert result.message.startswith(f"{name} verified on {n} validation images: same class for all, largest")
    assert result.path.name == f"{trained.project.name}-{trained.run}{result.path.suffix}"
    assert sorted(p.name for p in result.path.parent.iterdir()) == sorted(
        [result.path.name, *(p.name for p in result.extra_files)]
    ), "no temporary file may be left behind"


def _export_probabilities(fmt: str, path: Path, X: np.ndarray, prep: Preprocessing) -> np.ndarray:
    """Load an export the way its users do, independently of the code under test."""
    x = (
        X.astype(np.float32) * np.float32(prep.scale) - np.float32(prep.mean).reshape(1, -1, 1, 1)
    ) / np.float32(prep.std).reshape(1, -1, 1, 1)
    if fmt == "onnx":
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {session.get_inputs()[0].name: x})[0]
    if fmt == "torchscript":
        with torch.inference_mode():
            out = load_torchscript(path)(torch.from_numpy(x))
            return (out[0] if isinstance(out, tuple) else out).numpy()  # (probabilities, unknown_score)
    loaded = load_model(path)
    return Predictor(loaded).probabilities(X)


@pytest.mark.parametrize("fmt", FORMATS)
def test_exports_load_back_and_predict_what_the_app_predicts(trained, fmt):
    reference = Predictor(trained.app).probabilities(trained.val)  # calibrated, as the app shows
    probs = _export_probabilities(fmt, trained.exports[fmt].path, trained.val, trained.app.preprocessing)
    assert probs.shape == reference.shape
    assert np.abs(probs - reference).max() < 1e-4
    assert (probs.argmax(1) == reference.argmax(1)).all()


def test_onnx_has_a_dynamic_batch_axis_and_the_metadata(trained):
    path = trained.exports["onnx"].path
    proto = onnx.load(str(path))
    batch = proto.graph.input[0].type.tensor_type.shape.dim[0]
    assert batch.dim_param and not batch.dim_value
    meta = read_onnx_metadata(path)
    assert json.loads(meta[CLASSES_KEY]) == trained.app.class_names
    assert Preprocessing.from_dict(json.loads(meta[PREPROCESSING_KEY])) == trained.app.preprocessing
    assert meta["cnnstudio.output"] == "probabilities"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for n in (1, 5):
        out = session.run(None, {"image": np.zeros((n, 3, 32, 32), np.float32)})[0]
        assert out.shape == (n, 3)
        np.testing.assert_allclose(out.sum(axis=1), 1.0, atol=1e-5)


def test_torchscript_carries_its_metadata_inside_and_beside(trained):
    result = trained.exports["torchscript"]
    beside = json.loads(result.extra_files[0].read_text(encoding="utf-8"))
    assert result.extra_files[0] == result.path.with_suffix(".json")
    assert beside[CLASSES_KEY] == trained.app.class_names
    assert beside[PREPROCESSING_KEY] == trained.app.preprocessing.to_dict()
    extra = {"cnnstudio.json": ""}
    with pytest.warns(FutureWarning):  # torch 2.14 marks torch.jit deprecated; it still loads
        torch.jit.load(str(result.path), _extra_files=extra)
    assert json.loads(extra["cnnstudio.json"]) == beside


def test_the_bundle_holds_the_design_weights_and_card(trained):
    bundle = read_bundle(trained.exports["bundle"].path)
    assert bundle.class_names == trained.app.class_names
    assert bundle.preprocessing == trained.app.preprocessing
    assert ModelSpec.from_dict(bundle.spec).to_dict() == ModelSpec.from_dict(trained.app.spec).to_dict()
    card = bundle.card
    assert card["evaluation"]["split"] == "test" and 0 <= card["evaluation"]["accuracy"] <= 1
    assert len(card["evaluation"]["per_class"]) == 3 and "predictions" not in card["evaluation"]
    assert card["dataset"]["classes"] == trained.app.class_names
    assert card["dataset"]["split"]["counts"]["val"] == len(trained.val)
    assert card["training"]["settings"]["epochs"] == 3
    assert card["source"] == {"project": trained.project.name, "run": trained.run}
    assert card["created"] and card["versions"]["torch"] == torch.__version__.split("+")[0]


def test_fine_tuning_can_start_from_a_bundle(trained):
    from cnnstudio.core.train import TrainConfig, Trainer

    state, spec = bundle_weights_for_init(trained.exports["bundle"].path)
    trainer = Trainer(
        spec,
        TrainConfig(epochs=1),
        class_names=trained.app.class_names,
        preprocessing=trained.app.preprocessing,
        init_weights=state,
    )
    own = trainer.model.state_dict()
    for name, tensor in trained.app.model.state_dict().items():
        assert torch.equal(own[name].cpu().to(tensor.dtype), tensor), name


def _run_example(folder: Path, pictures: list[Path]) -> dict:
    done = subprocess.run(
        [sys.executable, "predict_example.py", "--json", *map(str, pictures)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _assert_same(example: dict, result) -> None:
    app = {p.path: p for p in result.predictions}
    assert [p["path"] for p in example["predictions"]] == [p.path for p in result.predictions]
    for row in example["predictions"]:
        mine = app[row["path"]]
        assert [label for label, _ in row["top"]] == [label for label, _ in mine.top] or (
            abs(mine.top[0][1] - mine.top[1][1]) < 1e-5  # a tie may be ordered either way
        )
        np.testing.assert_allclose([p for _, p in row["top"]], [p for _, p in mine.top], atol=1e-4)


def test_the_onnx_metadata_alone_reproduces_the_apps_predictions(trained):
    """predict_example.py (onnxruntime + Pillow + numpy, in another process) on real files."""
    folder = trained.exports["onnx"].path.parent
    pictures = sorted(trained.data.rglob("*.*"))[::3] + write_varied_pictures(trained.root / "varied")
    example = _run_example(folder, pictures)
    result = Predictor(trained.app).predict(pictures)
    assert not result.problems and len(result.predictions) == len(pictures)
    _assert_same(example, result)


def test_the_example_follows_crop_grey_and_mean_std_settings(tmp_path):
    """A model whose preprocessing is far from the defaults: the example must read it from the file."""
    torch.manual_seed(0)
    spec = template("tiny")
    layers = list(spec.layers)
    layers[0] = type(layers[0])(40, 28, 1, "crop")
    spec = spec.with_layers(layers)
    prep = Preprocessing(40, 28, "L", "crop", 1 / 255, (0.45,), (0.22,))
    loaded = LoadedModel(build_model(spec, 4), prep, list("abcd"), spec.to_dict(), "test")
    images = np.random.default_rng(0).integers(0, 256, (16, 1, 40, 28), dtype=np.uint8)
    result = export_model(loaded, "onnx", tmp_path / "grey.onnx", images, on="generated pictures")
    assert result.verification.ok, result.message
    example_file = result.extra_files[0]
    assert 'MODEL_FILE = "grey.onnx"' in example_file.read_text(encoding="utf-8").replace("'", '"')
    pictures = write_varied_pictures(tmp_path / "varied")
    _assert_same(_run_example(tmp_path, pictures), Predictor(loaded).predict(pictures))


def test_export_to_a_folder_that_does_not_exist_yet(trained, tmp_path):
    result = export_run(trained.project, "torchscript", tmp_path / "new" / "deeper" / "model")
    assert result.path == tmp_path / "new" / "deeper" / "model.pt" and result.path.exists()
    shutil.rmtree(tmp_path / "new")


def test_a_large_validation_split_is_sampled_and_the_message_says_so(trained, tmp_path):
    result = export_run(trained.project, "onnx", tmp_path / "few.onnx", max_images=3)
    n = len(trained.val)
    assert result.verification.images == 3
    assert result.message.startswith(f"ONNX verified on 3 of {n} validation images: same class for all")


def test_without_the_projects_pictures_generated_ones_are_used_and_named(trained, tmp_path, monkeypatch):
    from cnnstudio.core.errors import UserError

    def gone(self, *args, **kwargs):
        raise UserError("The image folder cannot be found.")

    monkeypatch.setattr(Project, "index", gone)
    result = export_run(trained.project, "torchscript", tmp_path / "m.pt")
    assert result.verification.ok and result.verification.images == 64
    assert "generated pictures (the project's pictures cannot be found)" in result.message
