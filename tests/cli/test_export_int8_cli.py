"""`cnnstudio export --format onnx --int8`: a real trained run made int8, its check line, refusal and --force."""

from __future__ import annotations

import json

import pytest

from cnnstudio.core.export import int8


@pytest.fixture(scope="module")
def project(train_cli_project):
    folder, run, _data = train_cli_project("export_int8_cli", per_class=12, epochs=3)
    return folder, run


def test_int8_export_prints_its_check_and_saves_the_file_and_example(project, tmp_path, run_cli):
    folder, run = project
    code, out, err = run_cli(
        "export", folder, "--run", run, "--format", "onnx", "--int8", "--out", tmp_path / "model"
    )
    assert code == 0, err
    lines = out.splitlines()
    assert (
        lines[0].startswith("int8 ONNX checked on ") and "validation images: the app's class for " in lines[0]
    )
    assert "x the float file's size" in lines[0] and "images/s" in lines[0]
    assert lines[1] == f"Saved {tmp_path / 'model.onnx'}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "predict_example.py"]
    assert "as int8 ONNX" in err


def test_int8_export_json(project, tmp_path, run_cli):
    folder, _run = project
    code, out, err = run_cli("export", folder, "--format", "onnx", "--int8", "--out", tmp_path, "--json")
    assert code == 0, err
    check = json.loads(out)["verification"]
    assert check["int8"] is True and check["ok"] is True and check["same_share"] >= 0.99
    assert check["float"]["same_class"] == check["images"] and check["int8_file"]["bytes"] > 0


def test_int8_is_for_onnx_only(project, tmp_path, run_cli):
    code, _out, err = run_cli("export", project[0], "--format", "bundle", "--int8", "--out", tmp_path / "m")
    assert code == 2 and "--int8 is for ONNX only" in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_a_file_that_falls_short_is_not_kept_unless_forced(project, tmp_path, run_cli, monkeypatch):
    monkeypatch.setattr(int8, "MIN_SAME_CLASS", 1.01)  # no file can pass: the refusal path, honestly
    argv = ["export", project[0], "--format", "onnx", "--int8", "--out", tmp_path / "m.onnx"]
    code, _out, err = run_cli(*argv)
    assert code == 2 and "int8 ONNX falls short on " in err and "Nothing was saved" in err
    assert not list(tmp_path.iterdir())

    code, out, err = run_cli(*argv, "--force")
    assert code == 0, err
    assert out.startswith("int8 ONNX kept as asked, though it falls short (at least 101% is needed)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "predict_example.py"]
