"""`cnnstudio --selftest`: the whole pipeline passes from the source tree, and a failing step says
which step failed and why, with a non-zero exit status."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tempfile

import pytest

from cnnstudio.selftest import OK_LINE, STEPS, SelftestFailure, run_steps


@pytest.mark.slow
def test_selftest_passes_from_source(tmp_path):
    # A subprocess, as a user runs it: the self-test sets environment variables and starts Qt.
    env = dict(os.environ, CNNSTUDIO_DATA_DIR=str(tmp_path / "never-used"))
    proc = subprocess.run(
        [sys.executable, "-m", "cnnstudio", "--selftest"],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1].startswith(OK_LINE)
    for number, (name, _func) in enumerate(STEPS, 1):
        assert any(line.startswith(f"[{number}/{len(STEPS)}] {name} ... OK") for line in lines), name
    assert "verified" in proc.stdout  # both exports were loaded back and checked
    # The user's data folder is left alone: everything went to a temporary folder.
    assert not (tmp_path / "never-used").exists()


def test_a_failing_step_names_itself_and_the_reason():
    ran = []

    def fine(ctx):
        ran.append("fine")
        return "all good"

    def broken(ctx):
        raise SelftestFailure("the answer was 41, expected 42")

    def never(ctx):
        ran.append("never")
        return ""

    out = io.StringIO()
    code = run_steps([("first", fine), ("second", broken), ("third", never)], out)
    text = out.getvalue()
    assert code == 1
    assert ran == ["fine"]
    assert "[1/3] first ... OK" in text
    assert "[2/3] second ... FAILED" in text
    assert "selftest FAILED at step 2 (second): the answer was 41, expected 42" in text
    assert OK_LINE not in text


def test_an_unexpected_error_is_reported_not_raised(capsys):
    def crash(ctx):
        raise ZeroDivisionError("division by zero")

    out = io.StringIO()
    assert run_steps([("divide", crash)], out) == 1
    assert "selftest FAILED at step 1 (divide): division by zero" in out.getvalue()
    assert "ZeroDivisionError" in capsys.readouterr().err  # the traceback, for a bug report


def test_environment_is_restored(monkeypatch):
    monkeypatch.setenv("CNNSTUDIO_DATA_DIR", "/somewhere/else")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    seen = {}

    def look(ctx):
        seen.update(data=os.environ["CNNSTUDIO_DATA_DIR"], qpa=os.environ["QT_QPA_PLATFORM"])
        return ""

    assert run_steps([("look", look)], io.StringIO()) == 0
    assert seen["data"].startswith(tempfile.gettempdir()) and seen["qpa"] == "offscreen"
    assert os.environ["CNNSTUDIO_DATA_DIR"] == "/somewhere/else"
    assert "QT_QPA_PLATFORM" not in os.environ
