"""The .cnnmodel bundle: a round trip, and hostile or broken files refused with one clear message.

Refusing means: a UserError on one line that names the file, no code from the file run, and
nothing created on disk (the reader extracts nothing).
"""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from cnnstudio.core.errors import UserError
from cnnstudio.core.evaluate import predict_probabilities
from cnnstudio.core.export import archive as archive_module
from cnnstudio.core.export import bundle_weights_for_init, load_model, read_bundle, write_bundle
from cnnstudio.core.spec import build_model, template


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    spec = template("tiny")
    model = build_model(spec, 3)
    path = tmp_path_factory.mktemp("good") / "model.cnnmodel"
    write_bundle(
        path,
        model,
        spec=spec.to_dict(),
        preprocessing=spec.preprocessing(),
        class_names=["cat", "dog", "bird"],
        card={"created": "today", "evaluation": {"accuracy": float("nan")}},
    )
    return path


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {name: zf.read(name) for name in zf.namelist()}


def write_zip(path: Path, entries: list[tuple[str, bytes]]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            zf.writestr(zipfile.ZipInfo(name), data)
    return path


def tree(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


class Evil:
    """A pickle that, if ever unpickled, leaves a file behind."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def test_round_trip_gives_the_same_model_and_predictions(good):
    bundle = read_bundle(good)
    assert bundle.class_names == ["cat", "dog", "bird"]
    assert bundle.preprocessing == template("tiny").preprocessing()
    assert bundle.card["evaluation"]["accuracy"] is None  # NaN is not JSON; stored as null
    torch.manual_seed(0)
    original = build_model(template("tiny"), 3)
    X = np.random.default_rng(0).integers(0, 256, (8, 3, 32, 32), dtype=np.uint8)
    expected = predict_probabilities(original, X, bundle.preprocessing)
    got = predict_probabilities(load_model(good).model, X, bundle.preprocessing)
    np.testing.assert_array_equal(got, expected)


def test_writing_is_deterministic_apart_from_the_card(good, tmp_path):
    again = tmp_path / "again.cnnmodel"
    write_bundle(
        again,
        load_model(good).model,
        spec=read_bundle(good).spec,
        preprocessing=read_bundle(good).preprocessing,
        class_names=["cat", "dog", "bird"],
        card=read_bundle(good).card,
    )
    assert again.read_bytes() == good.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.cnnmodel"]  # no temp file left


def test_weights_for_fine_tuning(good):
    state, spec = bundle_weights_for_init(good)
    model = build_model(template("tiny").from_dict(spec), 3)
    model.load_state_dict(state, strict=True)
    assert spec["name"] == "tiny"


def test_a_backbone_never_reads_a_file_the_bundle_names(good, tmp_path):
    parts = members(good)
    model_json = json.loads(parts["model.json"])
    model_json["spec"]["layers"].insert(1, {"type": "Backbone", "arch": "resnet18", "weights": "/etc/passwd"})
    parts["model.json"] = json.dumps(model_json).encode()
    path = write_zip(tmp_path / "backbone.cnnmodel", list(parts.items()))
    layer = read_bundle(path).spec["layers"][1]
    assert layer["weights"] == "random"


def _hostile(good: Path, folder: Path, kind: str) -> Path:
    parts = members(good)
    path = folder / "hostile.cnnmodel"
    marker = folder / "pwned"
    if kind == "random bytes":
        path.write_bytes(np.random.default_rng(0).bytes(5000))
    elif kind == "empty file":
        path.write_bytes(b"")
    elif kind == "pickle as weights":
        parts["weights.safetensors"] = pickle.dumps(Evil(marker))
        write_zip(path, list(parts.items()))
    elif kind == "torch pickle as weights":
        buffer = io.BytesIO()
        torch.save({"x": torch.zeros(2)}, buffer)
        parts["weights.safetensors"] = buffer.getvalue()
        write_zip(path, list(parts.items()))
    elif kind == "extra pickle member":
        write_zip(path, [*parts.items(), ("data.pkl", pickle.dumps(Evil(marker)))])
    elif kind == "climbing member":
        write_zip(path, [*parts.items(), ("../../x", b"boo")])
    elif kind == "absolute member":
        write_zip(path, [*parts.items(), (str(folder / "abs_x"), b"boo")])
    elif kind == "backslash climbing member":
        write_zip(path, [*parts.items(), ("..\\..\\x", b"boo")])
    elif kind == "oversized member":
        # 5 MB of spaces squeeze into a few kB: refused from its size, whatever the header says.
        big = b"{" + b" " * (5 * 2**20) + b"}"
        write_zip(path, [("model.json", big), *((k, v) for k, v in parts.items() if k != "model.json")])
    elif kind == "missing card":
        write_zip(path, [(k, v) for k, v in parts.items() if k != "card.json"])
    elif kind == "missing weights":
        write_zip(path, [(k, v) for k, v in parts.items() if k != "weights.safetensors"])
    elif kind == "duplicate member":
        with pytest.warns(UserWarning, match="Duplicate name"):
            write_zip(path, [*parts.items(), ("model.json", parts["model.json"])])
    elif kind == "bad json":
        parts["model.json"] = b'{"format": "cnnstudio-model", '
        write_zip(path, list(parts.items()))
    elif kind == "json not an object":
        parts["card.json"] = b"[1, 2]"
        write_zip(path, list(parts.items()))
    elif kind == "NaN in json":
        parts["model.json"] = parts["model.json"].replace(b'"output": "logits"', b'"output": NaN')
        write_zip(path, list(parts.items()))
    elif kind == "foreign json":
        parts["model.json"] = b'{"format": "something else"}'
        write_zip(path, list(parts.items()))
    elif kind == "bad preprocessing":
        model_json = json.loads(parts["model.json"])
        model_json["preprocessing"]["std"] = [0, 0, 0]
        parts["model.json"] = json.dumps(model_json).encode()
        write_zip(path, list(parts.items()))
    elif kind == "bad spec":
        model_json = json.loads(parts["model.json"])
        model_json["spec"]["layers"][1] = {"type": "Conv2D", "filters": "many"}
        parts["model.json"] = json.dumps(model_json).encode()
        write_zip(path, list(parts.items()))
    elif kind == "weights of another model":
        from safetensors.torch import save

        parts["weights.safetensors"] = save({"w": torch.zeros(3)})
        write_zip(path, list(parts.items()))
    elif kind == "a folder":
        path.mkdir()
    else:
        raise AssertionError(kind)
    return path


HOSTILE = {
    "random bytes": "not a zip",
    "empty file": "not a zip",
    "pickle as weights": "not a valid weights file",
    "torch pickle as weights": "not a valid weights file",
    "extra pickle member": "unexpected file ('data.pkl')",
    "climbing member": "unsafe name ('../../x')",
    "absolute member": "unsafe name",
    "backslash climbing member": "unsafe name",
    "oversized member": "model.json is larger than the 4 MB",
    "missing card": "card.json is missing",
    "missing weights": "weights.safetensors is missing",
    "duplicate member": "model.json more than once",
    "bad json": "model.json is damaged",
    "json not an object": "card.json is damaged",
    "NaN in json": "model.json is damaged",
    "foreign json": "not a CNN Studio model description",
    "bad preprocessing": "preprocessing settings are damaged",
    "bad spec": "model design",
    "weights of another model": "weights do not fit",
    "a folder": "neither a CNN Studio project nor a model file",
}


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_and_broken_bundles_are_refused_and_create_nothing(good, tmp_path, kind):
    folder = tmp_path / "inside" / "deeper"
    folder.mkdir(parents=True)
    path = _hostile(good, folder, kind)
    before, cwd_before = tree(tmp_path), set(os.listdir())
    with pytest.raises(UserError) as caught:
        load_model(path)
    message = str(caught.value)
    assert HOSTILE[kind] in message
    assert "hostile.cnnmodel" in message and "\n" not in message
    assert tree(tmp_path) == before and set(os.listdir()) == cwd_before
    assert not (folder / "pwned").exists() and not (tmp_path / "x").exists()


def test_a_lowered_weights_limit_is_enforced(good, monkeypatch):
    monkeypatch.setitem(archive_module.MAX_MEMBER_BYTES, "weights.safetensors", 1000)
    with pytest.raises(UserError, match="weights.safetensors is larger than"):
        read_bundle(good)


def test_a_bundle_from_a_newer_app_says_so(good, tmp_path):
    parts = members(good)
    model_json = json.loads(parts["model.json"])
    model_json["schema_version"] = 99
    parts["model.json"] = json.dumps(model_json).encode()
    path = write_zip(tmp_path / "new.cnnmodel", list(parts.items()))
    with pytest.raises(UserError, match="newer CNN Studio"):
        read_bundle(path)


def test_a_missing_file_says_so(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        load_model(tmp_path / "nope.cnnmodel")
