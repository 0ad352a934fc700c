"""Pre-trained weights: catalogue, fetching over a local HTTP server (hash check, resume, timeout),
--from a folder, import (good, wrong architecture, code payload), and no network anywhere else."""

from __future__ import annotations

import io
import json
import os
import socket

import pytest
import torch
import torchvision
from weights_server import ARCH, WeightsServer, use_weights_file, weights_bytes

from cnnstudio.cli import main
from cnnstudio.core.errors import UserError
from cnnstudio.core.spec import Backbone, build_model, template
from cnnstudio.core.spec.backbone_loader import make_backbone
from cnnstudio.core.spec.backbones import BACKBONES
from cnnstudio.core.weights import catalogue, entry, fetch, import_weights, list_weights
from cnnstudio.core.weights.download import partial_path
from cnnstudio.core.weights.entries import FILE_MB, HASH_REGEX

NAME = "mobilenet-v3-small"


@pytest.fixture(autouse=True)
def _own_app_folder(monkeypatch, tmp_path):
    """Imports go into the app's folder: each test gets its own, so none sees another's import."""
    monkeypatch.setenv("CNNSTUDIO_DATA_DIR", str(tmp_path / "appdata"))


def test_catalogue_matches_torchvision():
    enums = {
        "resnet18": torchvision.models.ResNet18_Weights.IMAGENET1K_V1,
        "mobilenet_v3_small": torchvision.models.MobileNet_V3_Small_Weights.IMAGENET1K_V1,
        "efficientnet_b0": torchvision.models.EfficientNet_B0_Weights.IMAGENET1K_V1,
    }
    names = [item.name for item in catalogue()]
    assert names == ["resnet18", "mobilenet-v3-small", "efficientnet-b0"]
    for item in catalogue():
        weights = enums[item.arch]
        assert item.url == weights.url
        assert FILE_MB[item.arch] == weights.meta["_file_size"]
        # the same hash prefix torch.hub would check
        assert item.sha256_prefix == HASH_REGEX.search(weights.url.rsplit("/", 1)[-1]).group(1)
        assert len(item.sha256_prefix) == 8


def test_list_json_on_an_empty_cache(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("CNNSTUDIO_WEIGHTS_FROM", str(tmp_path / "stick"))
    assert main(["weights", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["weights"]
    keys = {"name", "present", "path", "bytes", "source", "origin", "official", "imported", "note"}
    assert [set(row) for row in rows] == [keys] * 3
    small = rows[1]
    assert small["name"] == NAME and small["present"] is False and small["official"] is False
    assert small["origin"] == "random weights" and small["imported"] is None and small["note"] is None
    assert small["path"] == str(tmp_path / "torch" / "hub" / "checkpoints" / BACKBONES[ARCH].weights_file)
    assert small["bytes"] == 9_829_000
    assert small["source"] == str(tmp_path / "stick" / BACKBONES[ARCH].weights_file)


def test_get_downloads_checks_and_is_then_used(monkeypatch, tmp_path, capsys):
    data, file_name = use_weights_file(monkeypatch, tmp_path)
    with WeightsServer(data) as server:
        assert main(["weights", "get", NAME, "--from", server.base("good")]) == 0
    target = tmp_path / "torch" / "hub" / "checkpoints" / file_name
    assert target.read_bytes() == data
    assert not partial_path(entry(NAME)).exists()
    assert "checked" in capsys.readouterr().out
    row = next(r for r in list_weights() if r["name"] == NAME)
    assert row["present"] and row["bytes"] == len(data) and row["path"] == str(target)
    # the design's "imagenet" weights are now this file, and the backbone loads it
    layer = Backbone(ARCH, weights="imagenet")
    assert layer.weights_path == target
    net = make_backbone(layer)
    assert torch.equal(net.state_dict()["features.0.0.weight"], torch.load(target)["features.0.0.weight"])


def test_a_tampered_file_is_deleted_and_the_command_fails(monkeypatch, tmp_path, capsys):
    data, file_name = use_weights_file(monkeypatch, tmp_path)
    with WeightsServer(data) as server:
        assert main(["weights", "get", NAME, "--from", server.base("tampered")]) == 2
    err = capsys.readouterr().err
    assert "not the official" in err and "deleted" in err
    folder = tmp_path / "torch" / "hub" / "checkpoints"
    assert list(folder.iterdir()) == []


def test_an_interrupted_download_resumes(monkeypatch, tmp_path):
    data, file_name = use_weights_file(monkeypatch, tmp_path)
    with WeightsServer(data) as server:
        with pytest.raises(UserError, match="try again and it continues from there"):
            fetch(NAME, server.base("half"))
        partial = partial_path(entry(NAME))
        assert partial.stat().st_size == len(data) // 2
        done = []
        path = fetch(NAME, server.base("half"), progress=lambda d, t: done.append((d, t)))
        assert server.requests[-1] == ("half", f"bytes={len(data) // 2}-")
    assert path.read_bytes() == data and not partial.exists()
    assert done[-1] == (len(data), len(data))


def test_a_server_that_never_answers_times_out_with_a_message(monkeypatch, tmp_path):
    data, _ = use_weights_file(monkeypatch, tmp_path)
    with WeightsServer(data) as server:
        with pytest.raises(UserError) as caught:
            fetch(NAME, server.base("silent"), timeout=0.5)
    text = str(caught.value)
    assert "did not answer within 0.5 seconds" in text
    assert "--from FOLDER" in text and "cnnstudio weights import" in text


def test_offline_says_what_to_do(monkeypatch, tmp_path):
    data, _ = use_weights_file(monkeypatch, tmp_path)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(UserError, match="Could not reach 127.0.0.1") as caught:
        fetch(NAME, f"http://127.0.0.1:{port}/models/")
    assert "USB stick" in str(caught.value) and "CNNSTUDIO_WEIGHTS_FROM" in str(caught.value)


def test_get_from_a_folder_and_from_the_environment(monkeypatch, tmp_path):
    data, file_name = use_weights_file(monkeypatch, tmp_path)
    stick = tmp_path / "stick"
    stick.mkdir()
    (stick / file_name).write_bytes(data)
    assert main(["weights", "get", "all", "--from", str(stick)]) == 2  # the other two are not on it
    assert entry(NAME).present is not None
    entry(NAME).target.unlink()
    monkeypatch.setenv("CNNSTUDIO_WEIGHTS_FROM", str(stick))
    assert main(["weights", "get", NAME]) == 0
    assert entry(NAME).target.read_bytes() == data


def test_import_a_good_file_finds_its_network(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    mine = tmp_path / "mine.pth"
    torch.save({"state_dict": torch.load(io.BytesIO(weights_bytes(seed=3)))}, mine)
    assert main(["weights", "import", str(mine)]) == 0
    assert "not the official file" in capsys.readouterr().out
    assert not entry(NAME).target.exists()  # never under torchvision's official name
    kept = entry(NAME).present
    assert kept is not None and kept.is_relative_to(tmp_path / "appdata")
    model = torchvision.models.mobilenet_v3_small()
    model.load_state_dict(torch.load(kept, weights_only=True))
    expected = torch.load(io.BytesIO(weights_bytes(seed=3)), weights_only=True)
    assert all(torch.equal(value, expected[key]) for key, value in model.state_dict().items())
    mine_state = torch.load(io.BytesIO(weights_bytes(seed=3)))
    assert set(model.state_dict()) == set(mine_state)
    assert not all(
        torch.equal(model.state_dict()[k], v)
        for k, v in torch.load(io.BytesIO(weights_bytes(seed=4))).items()
    )


def test_import_an_official_file_keeps_its_bytes(monkeypatch, tmp_path):
    data, _ = use_weights_file(monkeypatch, tmp_path)
    mine = tmp_path / "download.pth"
    mine.write_bytes(data)
    item, path, official = import_weights(mine, NAME)
    assert official and path.read_bytes() == data


def test_import_safetensors(monkeypatch, tmp_path):
    from safetensors.torch import save_file

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    state = torchvision.models.mobilenet_v3_small().state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(tmp_path / "w.safetensors"))
    item, path, _ = import_weights(tmp_path / "w.safetensors", NAME)
    assert torch.equal(torch.load(path)["classifier.3.bias"], state["classifier.3.bias"])


def test_import_a_wrong_architecture_names_the_layer(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    wrong = tmp_path / "resnet.pth"
    wrong.write_bytes(weights_bytes("resnet18"))
    assert main(["weights", "import", str(wrong), "--as", NAME]) == 2
    err = capsys.readouterr().err
    assert "does not fit MobileNetV3 Small" in err and "features.0.0.weight" in err
    assert not entry(NAME).target.exists()
    # one layer of another size
    state = torchvision.models.mobilenet_v3_small().state_dict()
    state["features.1.block.0.0.weight"] = torch.zeros(8, 1, 3, 3)
    torch.save(state, wrong)
    with pytest.raises(UserError, match=r"features.1.block.0.0.weight is 8x1x3x3 in the file but 16x1x3x3"):
        import_weights(wrong, NAME)


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def test_import_refuses_a_code_payload_and_runs_nothing(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    marker = tmp_path / "marker.txt"
    evil = tmp_path / "evil.pth"
    state = torchvision.models.mobilenet_v3_small().state_dict()
    state["payload"] = Payload(marker)
    torch.save(state, evil)
    with pytest.raises(UserError, match="carries program code") as caught:
        import_weights(evil, NAME)
    assert "Nothing from it was run" in str(caught.value)
    assert not marker.exists()
    assert not entry(NAME).target.exists()


def test_nothing_connects_to_the_network_without_weights_get(monkeypatch, tmp_path, capsys):
    """Building every pre-trained template and listing weights on an empty cache opens no socket
    (torchvision is never asked to download)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def refuse(*args, **kwargs):
        raise AssertionError("a network connection was attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    for item in catalogue():
        model = build_model(template(item.name), 2)
        assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 2)
    assert main(["weights", "list"]) == 0
    assert not (tmp_path / "torch" / "hub" / "checkpoints").exists() or not any(
        (tmp_path / "torch" / "hub" / "checkpoints").iterdir()
    )


def test_train_refuses_a_frozen_backbone_without_its_weights(
    monkeypatch, tmp_path, tiny_image_folder, capsys
):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    data = tiny_image_folder(classes=2, per_class=2)
    code = main(["train", str(data), "--project", str(tmp_path / "p"), "--template", NAME, "--epochs", "1"])
    assert code == 2
    err = capsys.readouterr().err
    assert f"cnnstudio weights get {NAME}" in err and "--random-weights" in err
    assert not (tmp_path / "p").exists()  # refused before a project was made
    args = ["train", str(data), "--project", str(tmp_path / "p"), "--template", NAME]
    assert main([*args, "--epochs", "1", "--augment", "none", "--random-weights", "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["epochs"]) == 1  # trained, as asked


def test_a_standalone_app_finds_the_weights_bundled_with_it(monkeypatch, tmp_path):
    """`make package` copies present files into the app's weights/ folder (sys._MEIPASS/weights)."""
    data, file_name = use_weights_file(monkeypatch, tmp_path)
    bundle = tmp_path / "CNNStudio" / "_internal"
    (bundle / "weights").mkdir(parents=True)
    (bundle / "weights" / file_name).write_bytes(data)
    assert entry(NAME).present is None
    monkeypatch.setattr("sys.frozen", True, raising=False)
    monkeypatch.setattr("sys._MEIPASS", str(bundle), raising=False)
    assert entry(NAME).present == bundle / "weights" / file_name
    assert Backbone(ARCH, weights="imagenet").weights_path == bundle / "weights" / file_name
    row = next(r for r in list_weights() if r["name"] == NAME)
    assert row["present"] and row["path"] == str(bundle / "weights" / file_name)


def test_get_a_file_already_here_connects_nowhere(monkeypatch, tmp_path, capsys):
    data, _ = use_weights_file(monkeypatch, tmp_path)
    entry(NAME).target.parent.mkdir(parents=True)
    entry(NAME).target.write_bytes(data)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: pytest.fail("connected"))
    assert main(["weights", "get", NAME]) == 0
    assert "already here" in capsys.readouterr().err


def test_weights_list_and_the_catalogue_do_not_load_torch(tmp_path):
    import subprocess
    import sys

    code = (
        "import sys\nfrom cnnstudio.cli import main\nmain(['weights', 'list', '--json'])\n"
        "from cnnstudio.core.weights import fetch, entry\n"
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    env = {**os.environ, "TORCH_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["weights"][0]["name"] == "resnet18"
