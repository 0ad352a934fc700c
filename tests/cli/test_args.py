"""cli/args.py and cli/progress.py: the helpers every command shares, and that commands use them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest
from image_fixtures import write_tiny_image_folder

import cnnstudio.cli as cli_package
from cnnstudio.cli import main
from cnnstudio.cli.args import (
    non_negative_float,
    open_project,
    positive_float,
    positive_int,
    print_json,
    probability,
    require_folder,
)
from cnnstudio.cli.progress import count_progress
from cnnstudio.core.errors import UserError
from cnnstudio.core.project import Project

CLI_DIR = Path(cli_package.__file__).parent


def test_argument_types_accept_what_they_name_and_refuse_the_rest():
    assert positive_int("3") == 3
    assert positive_float("0.5") == 0.5
    assert non_negative_float("0") == 0.0
    assert probability("80%") == pytest.approx(0.8) and probability("0.25") == 0.25
    for parse, text in [
        (positive_int, "0"),
        (positive_int, "2.5"),
        (positive_float, "0"),
        (positive_float, "nan"),
        (positive_float, "inf"),
        (non_negative_float, "-1"),
        (non_negative_float, "inf"),
        (probability, "120%"),
        (probability, "much"),
    ]:
        with pytest.raises(argparse.ArgumentTypeError):
            parse(text)


def test_a_bad_number_is_refused_by_the_command_line_in_plain_words(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["predict", "model.cnnmodel", "x.png", "--threshold", "150%"])
    assert exit_info.value.code == 2
    assert "must be between 0 and 1 (or 0% and 100%)" in capsys.readouterr().err


def test_open_project_names_the_folder_as_typed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "not-a-project").mkdir()
    with pytest.raises(UserError, match=r"^not-a-project is not a CNN Studio project"):
        open_project("not-a-project")
    data = write_tiny_image_folder(tmp_path / "pictures", classes=2, per_class=2)
    Project.create(tmp_path / "proj", data)
    assert open_project("proj").folder == (tmp_path / "proj").resolve()
    require_folder(None)
    require_folder(tmp_path)
    with pytest.raises(UserError, match="is not a folder"):
        require_folder(tmp_path / "missing")


def test_print_json_prints_one_object(capsys):
    print_json({"name": "chat", "n": 2}, ensure_ascii=False)
    assert json.loads(capsys.readouterr().out) == {"name": "chat", "n": 2}


def test_the_progress_line_is_for_terminals_only_throttled_and_ends_with_the_total(monkeypatch, capsys):
    assert count_progress() is None  # stderr is not a terminal under pytest
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    progress = count_progress("pictures", label="Checking pictures")
    for done in range(1, 1001):
        progress(done, 1000)
    err = capsys.readouterr().err
    assert err.endswith("\rChecking pictures: 1,000 of 1,000\n")
    assert err.count("\r") < 100  # a thousand quick calls are not a thousand lines
    plain = count_progress("images")
    plain(5, 5)
    assert capsys.readouterr().err == "\r  5/5 images\n"


def test_commands_use_the_shared_helpers_rather_than_their_own():
    for path in sorted(CLI_DIR.glob("*.py")):
        if path.name == "args.py":
            continue
        text = path.read_text(encoding="utf-8")
        assert "ArgumentTypeError" not in text, f"{path.name}: put argument types in cli/args.py"
        assert "json.dumps(" not in text, f"{path.name}: print --json output with cli.args.print_json"
        assert "Project.open(" not in text, f"{path.name}: open projects with cli.args.open_project"
