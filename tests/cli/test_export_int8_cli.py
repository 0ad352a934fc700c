"""`cnnstudio export --format onnx --int8`: a real trained run made int8, its check line, refusal and --force."""

from __future__ import annotations

import json

import pytest

from cnnstudio.cli import main
from cnnstudio.core.export import int8


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    import contextlib
    import io

    from image_fixtures import write_tiny_image_folder

    root = tmp_path_factory.mktemp("export_int8_cli")
    data = write_tiny_image_folder(root / "data", classes=3, per_class=12, size=24)
    argv = ["train", str(data), "--project", str(root / "project"), "--template", "tiny"]
    argv += ["--epochs", "3", "--batch-size", "8", "--lr", "0.01", "--json"]
    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()):
        assert main(argv) == 0
    return root / "project", json.loads(out.getvalue())["run"]


def test_int8_export_prints_its_check_and_saves_the_file_and_example(project, tmp_path, capsys):
    folder, run = project
    code, out, err = run_cli(
        capsys, "export", folder, "--run", run, "--format", "onnx", "--int8", "--out", tmp_path / "model"
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


def test_int8_export_json(project, tmp_path, capsys):
    folder, _run = project
    code, out, err = run_cli(
        capsys, "export", folder, "--format", "onnx", "--int8", "--out", tmp_path, "--json"
    )
    assert code == 0, err
    check = json.loads(out)["verification"]
    assert check["int8"] is True and check["ok"] is True and check["same_share"] >= 0.99
    assert check["float"]["same_class"] == check["images"] and check["int8_file"]["bytes"] > 0


def test_int8_is_for_onnx_only(project, tmp_path, capsys):
    code, _out, err = run_cli(
        capsys, "export", project[0], "--format", "bundle", "--int8", "--out", tmp_path / "m"
    )
    assert code == 2 and "--int8 is for ONNX only" in err and err.count("\n") == 1
    assert not list(tmp_path.iterdir())


def test_a_file_that_falls_short_is_not_kept_unless_forced(project, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(int8, "MIN_SAME_CLASS", 1.01)  # no file can pass: the refusal path, honestly
    argv = ["export", project[0], "--format", "onnx", "--int8", "--out", tmp_path / "m.onnx"]
    code, _out, err = run_cli(capsys, *argv)
    assert code == 2 and "int8 ONNX falls short on " in err and "Nothing was saved" in err
    assert not list(tmp_path.iterdir())

    code, out, err = run_cli(capsys, *argv, "--force")
    assert code == 0, err
    assert out.startswith("int8 ONNX kept as asked, though it falls short (at least 101% is needed)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx", "predict_example.py"]
