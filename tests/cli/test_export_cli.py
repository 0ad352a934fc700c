"""`cnnstudio export`: each format from a real trained run, the verification line, user errors."""

from __future__ import annotations

import json

import pytest

from cnnstudio.cli import main


@pytest.fixture(scope="module")
def project(train_cli_project):
    folder, run, _data = train_cli_project("export_cli", per_class=10, epochs=2)
    return folder, run


@pytest.mark.parametrize(
    "fmt, name, suffix, extra",
    [
        ("bundle", "Bundle", ".cnnmodel", []),
        ("onnx", "ONNX", ".onnx", ["predict_example.py"]),
        ("torchscript", "TorchScript", ".pt", ["model.json"]),
        ("pt2", "torch.export (.pt2)", ".pt2", []),
    ],
)
def test_export_prints_the_verification_line(project, tmp_path, run_cli, fmt, name, suffix, extra):
    folder, run = project
    code, out, err = run_cli("export", folder, "--run", run, "--format", fmt, "--out", tmp_path / "model")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"{name} verified on ") and "validation images: same class for all" in lines[0]
    assert lines[1] == f"Saved {tmp_path / ('model' + suffix)}"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"model{suffix}", *extra])


def test_export_json(project, tmp_path, run_cli):
    folder, run = project
    code, out, err = run_cli("export", folder, "--format", "onnx", "--out", tmp_path, "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["verification"]["ok"] is True and result["format"] == "onnx"
    assert result["path"] == str(tmp_path / f"project-{run}.onnx")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["{project}", "--run", "nope"], "no run called 'nope'"),
        (["{tmp}", "--run", "x"], "not a CNN Studio project"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(project, tmp_path, run_cli, argv, message):
    argv = [a.format(project=project[0], tmp=tmp_path) for a in argv]
    code, out, err = run_cli("export", *argv, "--format", "bundle", "--out", tmp_path / "m")
    assert code == 2
    assert message in err and err.startswith("cnnstudio export: ") and err.count("\n") == 1
    assert not (tmp_path / "m.cnnmodel").exists()


def test_format_is_required(project, tmp_path, capsys):
    with pytest.raises(SystemExit) as caught:
        main(["export", str(project[0]), "--out", str(tmp_path)])
    assert caught.value.code == 2


def test_torchscript_never_replaces_someone_elses_json_without_force(project, tmp_path, run_cli):
    folder, run = project
    theirs = tmp_path / "model.json"
    theirs.write_text('{"my": "settings"}\n', encoding="utf-8")
    argv = ["export", folder, "--run", run, "--format", "torchscript", "--out", tmp_path / "model.pt"]
    code, _, err = run_cli(*argv)
    assert code == 2 and "model.json already exists" in err and "--force" in err
    assert theirs.read_text(encoding="utf-8") == '{"my": "settings"}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json"]  # nothing half written

    code, _, err = run_cli(*argv, "--force")
    assert code == 0, err
    written = json.loads(theirs.read_text(encoding="utf-8"))
    assert written["cnnstudio.classes"] == ["class_0", "class_1", "class_2"]
    # Our own metadata file is replaced by a new export without asking.
    code, _, err = run_cli(*argv)
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.json", "model.pt"]
