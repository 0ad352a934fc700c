"""A tiny search end to end: trials are runs, the study survives a stop and a killed process and
continues from its SQLite file, pruning stops a planted bad trial, the best settings come back."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from image_fixtures import write_tiny_image_folder

from cnnstudio.core.errors import UserError
from cnnstudio.core.project import Project
from cnnstudio.core.search import Search, SearchSettings, SearchSpace, list_studies
from cnnstudio.core.spec import template
from cnnstudio.core.train import AugmentConfig, TrainConfig


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("search")
    data = write_tiny_image_folder(root / "data", classes=3, per_class=12, size=32)
    Project.create(root / "proj", data)
    return root / "proj"


def _open(project_dir, name, **settings):
    space = SearchSpace.from_dict(
        settings.pop("space", {"learning_rate": {"min": 0.003, "max": 0.03}, "batch_size": [8, 16]})
    )
    return Search.open(
        Project.open(project_dir),
        name,
        spec=template("tiny"),
        config=TrainConfig(batch_size=8, augment=AugmentConfig.none()),
        settings=SearchSettings(space=space, **{"strategy": "random", "epochs": 1, **settings}),
    )


def _json(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_a_tiny_search_makes_runs_and_continues_from_its_file(project_dir):
    search = _open(project_dir, "tiny", metric="macro_f1")
    events = []
    summary = search.run(trials=2, on_event=events.append)
    search.close()
    assert [t.state for t in summary.trials] == ["complete", "complete"]
    assert summary.ended_because == "trials"
    kinds = [e.kind for e in events]
    assert (
        kinds.count("trial_started") == 2 and kinds.count("epoch") == 2 and kinds.count("trial_finished") == 2
    )
    assert (project_dir / "search" / "tiny.db").exists() and list_studies(Project.open(project_dir)) == [
        "tiny"
    ]

    # A new Study object (as a new process would make) continues the same study to 4 trials.
    again = Search.open(Project.open(project_dir), "tiny")
    assert again.settings.metric == "macro_f1" and again.settings.epochs == 1
    summary = again.run(trials=4)
    assert [t.number for t in summary.trials] == [0, 1, 2, 3]
    assert all(t.state == "complete" and 0 <= t.value <= 1 for t in summary.trials)
    assert (
        len({json.dumps(t.params, sort_keys=True) for t in summary.trials}) == 4
    )  # no repeats after resuming
    assert again.run(trials=4).trials == summary.trials  # nothing left to do

    # Each trial is an ordinary run with its params in config.json.
    for t in summary.trials:
        run = project_dir / "runs" / t.run
        config = _json(run / "config.json")
        assert config["run_info"]["search"] == {"study": "tiny", "trial": t.number, "params": t.params}
        assert config["train"]["lr"] == t.params["learning_rate"]
        assert (run / "best.safetensors").exists() and (run / "metrics.csv").exists()
        assert _json(run / "state.json")["status"] == "finished"
        assert _json(run / "evaluation_val.json")["macro"]["f1"] == pytest.approx(t.value)

    best = again.best()
    assert best.value == max(t.value for t in summary.trials)
    spec, config = again.best_settings()
    assert (config.lr, config.batch_size, config.epochs) == (
        best.params["learning_rate"],
        best.params["batch_size"],
        1,
    )
    assert spec.name == "tiny"
    project = Project.open(project_dir)
    again.use_best_settings(project)
    saved = Project.open(project_dir)
    assert saved.train_config["lr"] == best.params["learning_rate"] and saved.spec["name"] == "tiny"
    again.close()


def test_different_settings_for_an_existing_study_are_refused(project_dir):
    _open(project_dir, "fixed").close()
    with pytest.raises(UserError, match="already exists with other settings.*strategy"):
        _open(project_dir, "fixed", strategy="grid")
    with pytest.raises(UserError, match="cannot name a search"):
        Search.open(Project.open(project_dir), "../escape")


def test_stop_keeps_finished_trials_and_a_killed_trial_is_redone(project_dir):
    search = _open(project_dir, "stop", epochs=2, pruning="none")

    def stop_in_trial_1(event):
        if event.kind == "epoch" and event.trial == 1:
            search.stop()

    summary = search.run(trials=3, on_event=stop_in_trial_1)
    assert summary.ended_because == "stopped"
    assert [t.state for t in summary.trials] == ["complete", "interrupted"]
    stopped_run = project_dir / "runs" / summary.trials[1].run
    assert _json(stopped_run / "state.json")["status"] == "stopped"

    # A trial left "running" by a process that died: found on opening, redone like the stopped one.
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    import optuna

    trial = search._study.ask(
        {"learning_rate": optuna.distributions.FloatDistribution(0.003, 0.03, log=True)}
    )
    trial.set_user_attr("owner", {"pid": dead.pid})
    search.close()

    again = Search.open(Project.open(project_dir), "stop")
    summary = again.run(trials=3)
    again.close()
    states = {t.number: t.state for t in summary.trials}
    assert states[0] == "complete" and states[1] == "interrupted" and states[2] == "interrupted"
    redone = [t for t in summary.trials if t.number > 2]
    assert [t.state for t in redone] == ["complete", "complete"]
    assert {t.params["learning_rate"] for t in redone} >= {summary.trials[1].params["learning_rate"]}
    assert sum(t.counts_as_done for t in summary.trials) == 3


def test_a_trial_another_process_has_just_made_is_not_taken_for_dead(project_dir, monkeypatch):
    # Another process's trial between its making and its "owner" (CI once saw the second of two
    # workers fail it there, and the first then could not write its result): left running.
    import optuna

    from cnnstudio.core.search import owners

    search = _open(project_dir, "unnamed")
    search._study.ask({"learning_rate": optuna.distributions.FloatDistribution(0.003, 0.03, log=True)})
    summary = search.run(trials=1)
    assert [t.state for t in summary.trials] == ["running", "complete"]
    # Still unnamed long after it was made: its process died in between; redone like a killed one.
    monkeypatch.setattr(owners, "UNNAMED_TRIAL_SECONDS", 0)
    summary = search.run(trials=2)
    search.close()
    assert [t.state for t in summary.trials] == ["interrupted", "complete", "complete"]


@pytest.mark.filterwarnings("ignore:Fixed parameter:UserWarning")  # the planted trial lies outside the space
def test_pruning_stops_a_planted_bad_trial(project_dir, monkeypatch):
    from cnnstudio.core import pipeline

    evaluated = []  # the run folders scored on validation (the real evaluation, recorded)
    real_evaluate = pipeline.evaluate_run

    def recording_evaluate(project, run_dir, **kwargs):
        evaluated.append((run_dir.name, kwargs.get("split")))
        return real_evaluate(project, run_dir, **kwargs)

    monkeypatch.setattr(pipeline, "evaluate_run", recording_evaluate)
    search = _open(project_dir, "prune", epochs=3, metric="val_loss", pruning="median", prune_after=2)
    for lr in (0.01, 0.003):
        search.enqueue({"learning_rate": lr, "batch_size": 8})
    search.enqueue({"learning_rate": 10.0, "batch_size": 8})  # far too high: the loss explodes
    summary = search.run(trials=3)
    search.close()
    good, other, bad = summary.trials
    assert good.state == other.state == "complete" and good.epochs_done == 3
    assert bad.state == "pruned", bad
    assert bad.epochs_done == 1 and list(bad.intermediate) == [1]  # steps count epochs done
    assert "clearly worse" in bad.message
    state = _json(project_dir / "runs" / bad.run / "state.json")
    assert state["status"] == "pruned" and state["epochs_done"] == 1
    assert summary.best.number in (0, 1)
    # The finished trials were scored on validation; the pruned one was not evaluated at all.
    assert sorted(evaluated) == sorted([(good.run, "val"), (other.run, "val")])


def test_grid_search_tries_every_combination_once(project_dir):
    search = _open(
        project_dir, "grid", strategy="grid", space={"learning_rate": [0.003, 0.01], "batch_size": [8]}
    )
    summary = search.run()
    search.close()
    assert sorted(t.params["learning_rate"] for t in summary.trials) == [0.003, 0.01]
    assert summary.ended_because in ("trials", "grid")


def test_a_project_without_validation_pictures_is_refused(tmp_path):
    data = write_tiny_image_folder(tmp_path / "data", classes=2, per_class=4, size=32)
    project = Project.create(tmp_path / "proj", data)
    project.split_ratios = (1.0, 0.0, 0.0)
    project.save()
    search = Search.open(project, "noval", spec=template("tiny"))
    with pytest.raises(UserError, match="validation pictures"):
        search.run(trials=1)
    search.close()
