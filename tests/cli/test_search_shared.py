"""Searches shared by several processes: two workers on one Optuna journal file, --workers, and a
real PostgreSQL server when one can be started on this machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}


def _cnnstudio(*argv: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "cnnstudio", *argv],
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _make_project(run_cli, tmp_path, tiny_image_folder) -> tuple[Path, list[str]]:
    data = tiny_image_folder(classes=2, per_class=8, size=32)
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"learning_rate": {"min": 0.003, "max": 0.03}, "batch_size": [8, 16]}))
    project = tmp_path / "proj"
    from cnnstudio.core.project import Project

    Project.create(project, source=data).index()
    settings = ["--template", "tiny", "--epochs", "2", "--strategy", "random", "--space", str(space)]
    return project, settings


def _shared_study(run_cli, project: Path, settings: list[str], storage: str) -> None:
    """Two separate `cnnstudio search` processes, same study name and storage: one study of 4 trials."""
    argv = ["search", str(project), "--study", "shared", "--storage", storage, "--trials", "4", *settings]
    workers = [_cnnstudio(*argv, "--json") for _ in range(2)]
    outs = [w.communicate(timeout=600) for w in workers]
    for w, (_out, err) in zip(workers, outs, strict=True):
        assert w.returncode == 0, err
    # Each worker ran trials of the one study: together exactly 4, each with its run in the project.
    ran = [err.count("Trial ") for _, err in outs]
    assert sum(ran) >= 4 and all(n >= 1 for n in ran), ran
    code, out, err = run_cli("search", str(project), "--study", "shared", "--storage", storage, "--json")
    assert code == 0, err
    result = json.loads(out)
    numbers = sorted(t["number"] for t in result["trials"])
    done = result["counts"].get("complete", 0) + result["counts"].get("pruned", 0)
    assert numbers == list(range(len(numbers))) and done >= 4  # pruning compares across workers
    for trial in result["trials"]:
        if trial["state"] == "complete":
            assert (project / "runs" / trial["run"] / "best.safetensors").exists()
    runs = [p.name for p in (project / "runs").iterdir()]
    assert len(runs) == len(set(runs)) >= 4
    # The project's own search folder was not used: the study lives in the storage given.
    assert not (project / "search" / "shared.db").exists()


def test_two_processes_share_one_study_on_a_journal_file(run_cli, tmp_path, tiny_image_folder):
    project, settings = _make_project(run_cli, tmp_path, tiny_image_folder)
    journal = tmp_path / "shared-folder" / "study.log"
    _shared_study(run_cli, project, settings, f"journal:{journal}")
    assert journal.stat().st_size > 0


def test_workers_option_starts_local_workers(run_cli, tmp_path, tiny_image_folder):
    project, settings = _make_project(run_cli, tmp_path, tiny_image_folder)
    journal = tmp_path / "study.log"
    code, out, err = run_cli(
        "search",
        str(project),
        "--storage",
        f"journal:{journal}",
        "--workers",
        "2",
        "--trials",
        "3",
        *settings,
        "--json",
        "--use-best",
    )
    assert code == 0, err
    assert "[worker 1] " in err and "[worker 2] " in err
    result = json.loads(out)
    assert result["counts"].get("complete", 0) + result["counts"].get("pruned", 0) >= 3
    assert result["counts"].get("complete", 0) >= 1
    assert json.loads((project / "project.json").read_text())["spec"]["name"] == "tiny"


def test_a_failing_worker_is_named(run_cli, tmp_path, tiny_image_folder, monkeypatch):
    from cnnstudio.cli import search_workers

    project, settings = _make_project(run_cli, tmp_path, tiny_image_folder)
    real = search_workers.worker_argv

    def second_fails(args, folder, name):
        argv = real(args, folder, name)
        return argv if name == "worker 1" else [*argv, "--minutes", "-1"]  # a bad option: exits 2

    monkeypatch.setattr(search_workers, "worker_argv", second_fails)
    code, out, err = run_cli(
        "search",
        str(project),
        "--storage",
        f"journal:{tmp_path / 's.log'}",
        "--workers",
        "2",
        "--trials",
        "2",
        *settings,
    )
    assert code == 1, err  # the others finished the study, but one worker failing is a failure
    assert "The search worker 2 stopped with an error (exit code 2)" in err
    assert "1 of 2 search workers stopped with an error" in err


def test_unknown_storage_and_missing_driver_are_plain_words(run_cli, tmp_path, tiny_image_folder):
    project, settings = _make_project(run_cli, tmp_path, tiny_image_folder)
    code, _, err = run_cli("search", str(project), "--storage", "redis://x", *settings)
    assert code == 2 and "is not a search storage CNN Studio knows" in err
    try:
        import MySQLdb  # noqa: F401
    except ImportError:
        code, _, err = run_cli(
            "search", str(project), "--storage", "mysql://u:secret@localhost/db", *settings
        )
        assert code == 2 and "driver must be installed: pip install PyMySQL" in err
        assert "secret" not in err


def test_two_processes_share_one_study_on_a_postgresql_server(run_cli, tmp_path, tiny_image_folder):
    from postgres_server import postgres_url

    with postgres_url() as url:
        project, settings = _make_project(run_cli, tmp_path, tiny_image_folder)
        _shared_study(run_cli, project, settings, url)


def test_ctrl_c_stops_every_worker(run_cli, tmp_path, tiny_image_folder):
    import signal
    import time

    from cnnstudio.core.project import Project
    from cnnstudio.core.search import Search

    project, settings = _make_project(run_cli, tmp_path, tiny_image_folder)
    settings[settings.index("--epochs") + 1] = "50"  # long trials: still running at Ctrl+C
    journal = f"journal:{tmp_path / 's.log'}"
    parent = _cnnstudio(
        "search", str(project), "--storage", journal, "--workers", "2", "--trials", "6", *settings
    )
    seen: set[str] = set()
    deadline = time.monotonic() + 120
    while len(seen) < 2 and time.monotonic() < deadline:
        line = parent.stderr.readline()
        if "] Trial " in line:
            seen.add(line.split("]")[0])
    assert len(seen) == 2, "both workers should have started a trial"
    parent.send_signal(signal.SIGINT)
    parent.communicate(timeout=90)
    assert parent.returncode == 130
    search = Search.open(Project.open(project), "search", storage=journal)
    try:
        states = [t.state for t in search.trials()]
    finally:
        search.close()
    assert "running" not in states and states.count("interrupted") >= 2, states
