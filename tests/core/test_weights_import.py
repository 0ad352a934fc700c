"""Imported weights never pass for ImageNet's: they stay in the app's own folder with where they came
from, torch's hub folder and torchvision's official name are left alone, `weights list` says
"imported from FILE", a file under the official name is hashed before it is trusted (once per
change), and `make package` takes verified official files only. Local files only."""

from __future__ import annotations

import hashlib
import io
import json
import os
from datetime import UTC, datetime

import torch
import torchvision
from weights_server import ARCH, WeightsServer, use_weights_file, weights_bytes

from cnnstudio.cli import main
from cnnstudio.core.spec import Backbone, build_model, template
from cnnstudio.core.weights import entry, fetch, import_weights, list_weights, store
from cnnstudio.core.weights.entries import packaged_weights

NAME = "mobilenet-v3-small"


def _row(name=NAME) -> dict:
    return next(r for r in list_weights() if r["name"] == name)


def _hub_files(tmp_path) -> dict[str, bytes]:
    hub = tmp_path / "torch" / "hub"
    return (
        {str(p.relative_to(hub)): p.read_bytes() for p in hub.rglob("*") if p.is_file()}
        if hub.exists()
        else {}
    )


def test_an_import_stays_in_the_apps_folder_with_its_provenance(monkeypatch, tmp_path, capsys):
    data, _ = use_weights_file(monkeypatch, tmp_path)
    official = entry(NAME).target
    official.parent.mkdir(parents=True)
    official.write_bytes(data)  # torchvision's file is here too, and must stay as it is
    hub_before = _hub_files(tmp_path)
    state = torch.load(io.BytesIO(weights_bytes(seed=3)), weights_only=True)
    mine = tmp_path / "mine.pth"
    torch.save({"state_dict": state}, mine)
    assert main(["weights", "import", str(mine)]) == 0
    out = capsys.readouterr().out
    assert "imported from mine.pth" in out and "not the official file" in out
    assert _hub_files(tmp_path) == hub_before  # nothing written into torch's hub folder
    kept = store.imported_path(ARCH)
    assert kept.parent == tmp_path / "appdata" / "weights" / "imported"
    record = json.loads(store.record_path(ARCH).read_text(encoding="utf-8"))
    assert record["source_file"] == str(mine)
    assert record["source_sha256"] == hashlib.sha256(mine.read_bytes()).hexdigest()
    assert record["imported_at"][:10] == datetime.now(UTC).date().isoformat()
    assert record["official"] is False and record["schema_version"] == 1
    # the template uses the imported file, and says so
    assert entry(NAME).present == kept and entry(NAME).official == official
    assert Backbone(ARCH, weights="imagenet").weights_path == kept
    model = build_model(template(NAME), 2)
    loaded = dict(model.named_parameters())
    key = next(k for k in loaded if k.endswith("features.0.0.weight"))
    assert torch.equal(loaded[key].detach(), state["features.0.0.weight"])
    assert main(["weights", "list", "--json"]) == 0
    row = next(r for r in json.loads(capsys.readouterr().out)["weights"] if r["name"] == NAME)
    assert row["origin"] == "imported from mine.pth" and row["present"] and row["path"] == str(kept)
    assert row["official"] is True and row["imported"]["from"] == str(mine)
    assert main(["weights", "list"]) == 0
    text = capsys.readouterr().out
    assert (
        "imported from mine.pth" in text
        and "pre-trained on ImageNet" not in text.split(NAME)[1].split("\n")[1]
    )
    # torchvision elsewhere on the computer still loads the official bytes
    assert official.read_bytes() == data
    # and forgetting the import brings ImageNet's back
    assert main(["weights", "forget", NAME]) == 0
    assert _row()["origin"] == "pre-trained on ImageNet" and not kept.exists()


def test_an_official_file_imported_is_still_recorded_as_imported(monkeypatch, tmp_path):
    data, _ = use_weights_file(monkeypatch, tmp_path)
    download = tmp_path / "download.pth"
    download.write_bytes(data)
    item, path, official = import_weights(download, NAME)
    assert official and path.read_bytes() == data and path == store.imported_path(ARCH)
    assert not item.target.exists() and item.official is None  # torch's folder: untouched
    assert _row()["origin"] == "imported from download.pth"
    assert packaged_weights() == []  # an import is never packaged


def test_a_changed_import_is_not_used(monkeypatch, tmp_path):
    use_weights_file(monkeypatch, tmp_path)
    mine = tmp_path / "mine.pth"
    mine.write_bytes(weights_bytes(seed=4))
    import_weights(mine, NAME)
    assert entry(NAME).imported is not None
    store.imported_path(ARCH).write_bytes(weights_bytes(seed=5))  # changed behind the app's back
    assert entry(NAME).imported is None and entry(NAME).present is None
    assert _row()["origin"] == "random weights"


def test_a_file_under_the_official_name_is_hashed_before_it_is_trusted(monkeypatch, tmp_path, capsys):
    data, _ = use_weights_file(monkeypatch, tmp_path)
    target = entry(NAME).target
    target.parent.mkdir(parents=True)
    target.write_bytes(weights_bytes(seed=7))  # e.g. an import by an older version: not ImageNet's
    assert entry(NAME).present is None and entry(NAME).official is None
    assert Backbone(ARCH, weights="imagenet").weights_path is None
    row = _row()
    assert (
        not row["present"]
        and row["origin"] == "random weights"
        and "not torchvision's official" in row["note"]
    )
    assert packaged_weights() == []
    with WeightsServer(data) as server:  # `weights get` replaces it with the official file
        assert fetch(NAME, server.base("good")) == target
    assert target.read_bytes() == data
    assert packaged_weights() == [target] and _row()["origin"] == "pre-trained on ImageNet"


def test_the_check_is_remembered_by_size_and_modification_time(monkeypatch, tmp_path):
    data, _ = use_weights_file(monkeypatch, tmp_path)
    target = entry(NAME).target
    target.parent.mkdir(parents=True)
    target.write_bytes(data)
    hashed = []
    real = store._hash_file
    monkeypatch.setattr(store, "_hash_file", lambda path: hashed.append(path) or real(path))
    assert entry(NAME).official == target and entry(NAME).official == target
    assert len(hashed) == 1
    monkeypatch.setattr(store, "_memory", {})  # a new process: checked.json remembers it
    assert entry(NAME).official == target and len(hashed) == 1
    saved = json.loads((tmp_path / "appdata" / "weights" / "checked.json").read_text(encoding="utf-8"))
    assert saved["files"][str(target)]["sha256"] == hashlib.sha256(data).hexdigest()
    # same size, other bytes, a new modification time: hashed again and refused
    target.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    later = target.stat().st_mtime_ns + 10**9
    os.utime(target, ns=(later, later))
    assert entry(NAME).official is None and len(hashed) == 2


def test_an_import_with_torchvisions_layout_loads_in_torchvision(monkeypatch, tmp_path):
    use_weights_file(monkeypatch, tmp_path)
    state = torchvision.models.mobilenet_v3_small().state_dict()
    mine = tmp_path / "wrapped.pth"
    torch.save({"model": {f"module.{k}": v for k, v in state.items()}}, mine)
    _, path, _ = import_weights(mine)
    kept = torch.load(path, weights_only=True)
    assert kept.keys() == state.keys()
    assert all(torch.equal(kept[k], state[k]) for k in state)
