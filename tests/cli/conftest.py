"""Shared fixtures of the command-line tests: `run_cli` and a project trained by `cnnstudio train`."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
from image_fixtures import write_tiny_image_folder

from cnnstudio.cli import main


@pytest.fixture
def run_cli(capsys):
    """run_cli(*argv) -> (exit code, stdout, stderr) of `cnnstudio ARGV`, run in this process."""

    def run(*argv):
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(scope="session")
def train_cli_project(tmp_path_factory):
    """A factory: train_cli_project(name, per_class=10, epochs=2) -> (project folder, run id, data
    folder): `cnnstudio train --json` of the tiny template (batch 8, learning rate 0.01) on a new
    folder of 3 classes of 24 x 24 pictures, each call in a folder of its own."""

    def make(name: str, per_class: int = 10, epochs: int = 2) -> tuple[Path, str, Path]:
        root = tmp_path_factory.mktemp(name)
        data = write_tiny_image_folder(root / "data", classes=3, per_class=per_class, size=24)
        argv = ["train", str(data), "--project", str(root / "project"), "--template", "tiny"]
        argv += ["--epochs", str(epochs), "--batch-size", "8", "--lr", "0.01", "--json"]
        with (
            contextlib.redirect_stdout(io.StringIO()) as out,
            contextlib.redirect_stderr(io.StringIO()) as err,
        ):
            code = main(argv)
        assert code == 0, err.getvalue()
        return root / "project", json.loads(out.getvalue())["run"], data

    return make
