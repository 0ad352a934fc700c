"""The int8 ONNX export: quantised with onnxruntime, the calibration tail kept float, checked, refused.

The model is a real tiny CNN trained for a few epochs on real pictures written by Pillow, with a
fitted calibration (its temperature then set to 2.5, so that a lost temperature shows, and its
unknown threshold in the middle of the pictures' scores, so that both flags travel).
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import warnings
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from image_fixtures import write_tiny_image_folder
from torch import nn

from cnnstudio.core.dataset import decode_image
from cnnstudio.core.errors import UserError
from cnnstudio.core.evaluate import predict_probabilities
from cnnstudio.core.export import LoadedModel, Predictor
from cnnstudio.core.export.int8 import (
    MIN_SAME_CLASS,
    QUANTIZATION_KEY,
    network_nodes,
    quantize_onnx,
    tail_nodes,
)
from cnnstudio.core.export.job import export_int8
from cnnstudio.core.export.metadata import (
    CLASSES_KEY,
    PREPROCESSING_KEY,
    TEMPERATURE_KEY,
    UNKNOWN_KEY,
    export_metadata,
)
from cnnstudio.core.export.outputs import normalize_numpy
from cnnstudio.core.spec import template
from cnnstudio.core.train import TrainConfig, Trainer
from cnnstudio.core.trust import fit_trust, predict_calibrated

QDQ = {"QuantizeLinear", "DequantizeLinear"}
INT8_TYPES = {onnx.TensorProto.INT8, onnx.TensorProto.UINT8}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("int8")
    data = write_tiny_image_folder(root / "data", classes=3, per_class=16, size=24)
    spec = template("tiny")
    prep = spec.preprocessing()
    paths = sorted(str(p) for p in data.rglob("*.*") if p.is_file())
    names = sorted({Path(p).parent.name for p in paths})
    X = np.stack([decode_image(p, prep.height, prep.width, prep.num_channels, prep.fit) for p in paths])
    y = np.array([names.index(Path(p).parent.name) for p in paths])
    torch.manual_seed(0)
    trainer = Trainer(
        spec, TrainConfig(epochs=4, batch_size=8, lr=0.01), class_names=names, preprocessing=prep
    )
    trainer.fit((X[::2], y[::2]))
    model = trainer.model.to("cpu").eval()
    cal = fit_trust(model, prep, X[::2], y[::2], X[1::2], y[1::2])
    cal.temperature = 2.5
    cal.threshold = float(np.median(predict_calibrated(model, X, prep, cal).unknown_scores))
    loaded = LoadedModel(model, prep, names, spec.to_dict(), "test", calibration=cal)
    result = export_int8(loaded, root / "out" / "m.onnx", X[1::2], X[::2])
    return SimpleNamespace(root=root, data=data, X=X, y=y, loaded=loaded, cal=cal, result=result, paths=paths)


def test_the_int8_file_is_kept_with_its_numbers_beside_the_float_files(trained):
    check = trained.result.verification
    images = len(trained.X[1::2])
    assert check.ok and not check.forced and check.images == images
    assert check.int8.same_class >= MIN_SAME_CLASS * images
    assert check.float.same_class == images and check.float.max_diff < 1e-4  # the float file is exact
    assert 0 < check.int8.max_diff < 0.2  # int8 is not exact, and not far off
    assert check.int8.unknown_differ is not None and check.float.unknown_differ == 0
    assert check.float.size > 0 and check.int8.size == trained.result.path.stat().st_size
    assert check.float.images_per_s > 0 and check.int8.images_per_s > 0
    assert check.message.startswith(f"int8 ONNX checked on {images} validation images: the app's class for ")
    assert "x the float file's size" in check.message and "images/s" in check.message
    data = trained.result.to_dict()["verification"]
    assert data["int8"] is True and data["ok"] is True and data["float"]["same_class"] == images
    assert sorted(p.name for p in trained.result.path.parent.iterdir()) == ["m.onnx", "predict_example.py"]


def test_the_network_is_int8_and_the_tail_stays_float(trained):
    model = onnx.load(str(trained.result.path))
    initializers = {t.name: t for t in model.graph.initializer}
    ops = [n.op_type for n in model.graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    producer = {o: n for n in model.graph.node for o in n.output}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    weights = [producer[n.input[1]] for n in convs if n.input[1] in producer]  # the rest stay float
    assert len(weights) == len(convs) - 1  # all but the first layer, which reads the picture
    assert all(d.op_type == "DequantizeLinear" for d in weights)
    assert all(initializers[d.input[0]].data_type == onnx.TensorProto.INT8 for d in weights)
    scales = [initializers[d.input[1]] for d in weights]
    assert all(len(t.dims) == 1 and t.dims[0] > 1 for t in scales)  # one scale per output channel
    assert all(n.name.startswith("/model/") for n in convs)  # the network's own names stay
    softmax = next(n for n in model.graph.node if n.op_type == "Softmax")
    node = producer[softmax.input[0]]
    while node.op_type in ("Div", "Cast"):  # the temperature
        node = producer[node.input[0]]
    assert node.op_type == "Gemm"  # the logits reach the softmax unquantised
    tail = set(tail_nodes(model.graph))
    assert {"ReduceMin", "MatMul", "Softmax"} <= {n.op_type for n in model.graph.node if n.name in tail}
    for node in model.graph.node:
        if node.name in tail:
            assert node.op_type not in QDQ
            for name in node.input:
                if name in initializers:
                    assert initializers[name].data_type not in INT8_TYPES, (node.name, name)
    tail_outputs = {o for n in model.graph.node if n.name in tail for o in n.output}
    assert not [n.name for n in model.graph.node if n.op_type in QDQ and set(n.input) & tail_outputs]


def test_the_metadata_travels_and_says_int8(trained):
    meta = {p.key: p.value for p in onnx.load(str(trained.result.path)).metadata_props}
    expected = export_metadata(trained.loaded.preprocessing, trained.loaded.class_names, trained.cal)
    for key in (PREPROCESSING_KEY, CLASSES_KEY, TEMPERATURE_KEY, UNKNOWN_KEY):
        assert meta[key] == expected[key]
    assert float(meta[TEMPERATURE_KEY]) == 2.5 and "int8" in meta[QUANTIZATION_KEY]


def test_the_temperature_and_unknown_score_still_apply(trained):
    X, prep = trained.X, trained.loaded.preprocessing
    session = ort.InferenceSession(str(trained.result.path), providers=["CPUExecutionProvider"])
    probs, scores = session.run(None, {"image": normalize_numpy(X, prep)})
    app = predict_calibrated(trained.loaded.model, X, prep, trained.cal)
    raw = predict_probabilities(trained.loaded.model, X, prep)
    assert (probs.argmax(1) == app.probs.argmax(1)).mean() >= MIN_SAME_CLASS
    # Calibrated (T = 2.5): far closer to the app's calibrated confidences than to the raw softmax.
    assert np.abs(probs - app.probs).max() < 0.5 * np.abs(probs - raw).max()
    # The score is computed in float from the int8 network's features: near the app's, not equal to it.
    assert np.corrcoef(scores, app.unknown_scores)[0, 1] > 0.8
    flags, app_flags = scores > trained.cal.threshold, app.unknown_scores > trained.cal.threshold
    assert flags.any() and not flags.all()
    # The check reports the flags that differ on the validation pictures (every other one here).
    assert trained.result.verification.int8.unknown_differ == int((flags != app_flags)[1::2].sum())


def test_predict_example_runs_the_int8_file_unchanged(trained):
    folder = trained.result.path.parent
    pictures = trained.paths[1::3]
    done = subprocess.run(
        [sys.executable, "predict_example.py", "--json", *pictures],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    example = {row["path"]: row for row in json.loads(done.stdout)["predictions"]}
    assert len(example) == len(pictures)
    session = ort.InferenceSession(str(trained.result.path), providers=["CPUExecutionProvider"])
    prep = trained.loaded.preprocessing
    X = np.stack([decode_image(p, prep.height, prep.width, prep.num_channels, prep.fit) for p in pictures])
    probs, scores = session.run(None, {"image": normalize_numpy(X, prep)})
    app = Predictor(trained.loaded).predict(pictures)
    same = 0
    for p, row, prob, score in zip(
        app.predictions, (example[p] for p in pictures), probs, scores, strict=True
    ):
        assert row["confidence"] == pytest.approx(float(prob.max()), abs=1e-6)
        assert row["unknown_score"] == pytest.approx(float(score), rel=1e-5)
        assert row["unknown"] == bool(score > trained.cal.threshold)
        same += row["label"] == p.label
    assert same >= MIN_SAME_CLASS * len(pictures)


def test_a_check_that_fails_keeps_nothing_and_says_why(trained, tmp_path):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"the user's old file")
    with pytest.raises(UserError) as caught:
        export_int8(trained.loaded, out, trained.X[1::2], trained.X[::2], min_same_class=1.01)
    text = str(caught.value)
    assert text.startswith("int8 ONNX falls short on ") and "at least 101% is needed" in text
    assert "Nothing was saved" in text and "--force" in text
    assert out.read_bytes() == b"the user's old file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]  # no temporary file, no example


def test_force_keeps_a_file_that_falls_short_and_says_so(trained, tmp_path):
    result = export_int8(
        trained.loaded, tmp_path / "m.onnx", trained.X[1::2], trained.X[::2], min_same_class=1.01, force=True
    )
    assert result.verification.forced and not result.verification.ok
    assert result.message.startswith(
        "int8 ONNX kept as asked, though it falls short (at least 101% is needed)"
    )
    assert result.path.exists() and (tmp_path / "predict_example.py").exists()


class KnnScored(nn.Module):
    """A stand-in for another unknown score after the network: a kNN similarity to a stored bank
    (MatMul, TopK) and the max softmax (ReduceMax), as the exporter may build it."""

    def __init__(self, model: nn.Module, bank: torch.Tensor) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("bank", bank)
        self.seen: list[torch.Tensor] = []
        model.layers[-1].register_forward_pre_hook(lambda _m, inputs: self.seen.append(inputs[0]))

    def forward(self, x: torch.Tensor):
        self.seen.clear()
        probs = torch.softmax(self.model(x) / 1.7, dim=1)
        features = nn.functional.normalize(self.seen[-1].flatten(1), dim=1)
        nearest = (features @ self.bank.T).topk(3, dim=1).values.mean(dim=1)
        return probs, (1 - nearest) + (1 - probs.max(dim=1).values)


def test_another_tail_is_found_by_the_graph_and_stays_float(trained, tmp_path):
    model = copy.deepcopy(trained.loaded.model)  # the hooks below stay off the shared model
    prep = trained.loaded.preprocessing
    with torch.no_grad():
        features = []
        hook = model.layers[-1].register_forward_pre_hook(lambda _m, inputs: features.append(inputs[0]))
        model(torch.from_numpy(normalize_numpy(trained.X[::2], prep)))
        hook.remove()
    bank = nn.functional.normalize(features[0].flatten(1), dim=1)
    wrapped = KnnScored(model, bank).eval()
    path = tmp_path / "knn.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter, as onnx_export.py uses it
        torch.onnx.export(
            wrapped,
            (torch.zeros(2, 3, prep.height, prep.width),),
            str(path),
            dynamo=False,
            input_names=["image"],
            output_names=["probabilities", "unknown_score"],
            dynamic_axes={
                "image": {0: "batch"},
                "probabilities": {0: "batch"},
                "unknown_score": {0: "batch"},
            },
            opset_version=17,
        )
    proto = onnx.load(str(path))
    for key, value in export_metadata(prep, trained.loaded.class_names).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))
    head, kept = network_nodes(proto.graph)
    assert head.op_type == "Gemm" and head.name.startswith("/model/")
    assert {n.name for n in proto.graph.node if n.name.startswith("/model/")} == kept
    assert {"TopK", "MatMul", "ReduceMax", "Div", "Softmax"} <= {
        n.op_type for n in proto.graph.node if n.name in set(tail_nodes(proto.graph))
    }
    out = quantize_onnx(path, tmp_path / "knn-int8.onnx", trained.X[::2])
    quantized = onnx.load(str(out))
    initializers = {t.name: t for t in quantized.graph.initializer}
    bank_user = next(n for n in quantized.graph.node if n.op_type == "MatMul")
    assert any(
        initializers.get(i) is not None and initializers[i].data_type == onnx.TensorProto.FLOAT
        for i in bank_user.input
    )
    x = normalize_numpy(trained.X[1::2], prep)
    float_out = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": x})
    int8_out = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"image": x})
    assert (float_out[0].argmax(1) == int8_out[0].argmax(1)).mean() >= MIN_SAME_CLASS
    np.testing.assert_allclose(int8_out[1], float_out[1], atol=0.1)


def test_a_graph_without_a_network_is_refused_in_words():
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Softmax", ["image"], ["probabilities"], name="s")],
        "bare",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [1, 3])],
    )
    with pytest.raises(UserError, match="no network before its probabilities"):
        network_nodes(graph)
