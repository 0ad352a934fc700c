"""The headless jobs end to end on a tiny folder: train, evaluate, demo, and their user errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnnstudio.cli import main


@pytest.fixture
def trained(tmp_path, tiny_image_folder, run_cli):
    data = tiny_image_folder(classes=3, per_class=12, size=24)
    code, out, err = run_cli(
        "train",
        str(data),
        "--project",
        str(tmp_path / "proj"),
        "--template",
        "tiny",
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--json",
    )
    assert code == 0, err
    return tmp_path / "proj", json.loads(out)


def test_train_json_has_the_promised_fields(trained):
    project, result = trained
    assert (project / "runs" / result["run"] / "config.json").exists()
    assert result["train_images_per_s"] > 0
    assert len(result["epochs"]) == 2
    for split in ("val", "test"):
        assert 0.0 <= result[split]["accuracy"] <= 1.0
        assert 0.0 <= result[split]["macro_f1"] <= 1.0
        matrix = result[split]["confusion_matrix"]
        assert len(matrix) == 3 and all(len(row) == 3 for row in matrix)


def test_evaluate_json_and_text(trained, run_cli, tiny_image_folder):
    project, result = trained
    code, out, err = run_cli("evaluate", str(project), "--split", "val", "--json")
    assert code == 0, err
    evaluated = json.loads(out)
    assert evaluated["run"] == result["run"]
    # How many pictures graded the run, and that people labelled them (no accepted suggestions here).
    assert evaluated["graded"] == {
        "pictures": evaluated["images"],
        "by_people": True,
        "accepted_suggestions": 0,
        "apart": None,
    }
    code, out, _ = run_cli("evaluate", str(project), "--run", result["run"])
    assert code == 0 and "class_2" in out and "labelled by people" in out
    other = tiny_image_folder(classes=3, per_class=3, size=24, seed=5, name="other")
    code, out, err = run_cli("evaluate", str(project), "--folder", str(other), "--json")
    assert code == 0, err
    assert json.loads(out)["images"] == 9


def test_a_finished_run_trains_further_with_resume_and_a_new_total(trained, run_cli):
    project, result = trained
    resume = ["train", str(project), "--resume", result["run"]]
    code, out, err = run_cli(*resume, "--epochs", "3", "--json")
    assert code == 0, err
    again = json.loads(out)
    assert again["run"] == result["run"]
    assert len(again["epochs"]) == 3
    config = json.loads((project / "runs" / result["run"] / "config.json").read_text())
    assert config["train"]["epochs"] == 3 and config["resumes"][-1]["epochs"] == 3
    code, _, err = run_cli(*resume, "--epochs", "1")
    assert code == 2 and "already trained 3 epochs" in err


def test_a_run_that_another_program_trains_is_not_resumed_beside_it(trained, run_cli):
    # Another `cnnstudio train` process resumes the run and is still training it: a second resume
    # would write the same checkpoints; it is refused in words until that process is gone.
    import os
    import signal
    import subprocess
    import sys
    import time

    from cnnstudio.core.runs import load_run

    project, result = trained
    run = project / "runs" / result["run"]
    root = Path(__file__).resolve().parents[2]
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cnnstudio",
            "train",
            str(project),
            "--resume",
            result["run"],
            "--epochs",
            "100000",
        ],
        env={**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            state = json.loads((run / "state.json").read_text())
            if state["status"] == "running" and state["pid"] == child.pid and state["epochs_done"] > 2:
                break
            assert child.poll() is None, child.stderr.read()
            time.sleep(0.1)
        else:
            pytest.fail("the other process did not train an epoch in 120 s")
        assert load_run(run).state == "running"
        code, _, err = run_cli("train", str(project), "--resume", result["run"], "--epochs", "100001")
        assert code == 2, err
        assert (
            f"The run {result['run']} is being trained right now by another program on this computer" in err
        )
        assert f"(process {child.pid})" in err and "Stop that training first" in err
        child.send_signal(signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(30)
    # Killed: the run is interrupted, and resuming it here is allowed again.
    record = load_run(run)
    assert record.state == "interrupted" and record.can_resume
    code, out, err = run_cli(
        "train", str(project), "--resume", result["run"], "--epochs", str(record.epochs_done + 1)
    )
    assert code == 0, err
    assert json.loads((run / "state.json").read_text())["status"] == "finished"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "{missing}"], "does not exist"),
        (["train", "{one}", "--template", "nope"], "nope"),
        (["train", "{empty}"], "no pictures were found"),
        (["train", "{one}"], "at least 2 classes"),
        (["evaluate", "{missing}"], "not a CNN Studio project"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(tmp_path, tiny_image_folder, run_cli, argv, message):
    one = tiny_image_folder(classes=1, per_class=4, name="one")
    (tmp_path / "empty").mkdir()
    (tmp_path / "missing").mkdir()  # exists but is no project (for evaluate)
    names = {"missing": str(tmp_path / "nothing_here"), "one": str(one), "empty": str(tmp_path / "empty")}
    if argv[0] == "evaluate":
        names["missing"] = str(tmp_path / "missing")
    argv = [a.format(**names) for a in argv] + ["--project", str(tmp_path / "p")] * (argv[0] == "train")
    code, out, err = run_cli(*argv)
    assert code == 2
    errors = [line for line in err.splitlines() if line.startswith("cnnstudio ")]
    assert len(errors) == 1 and message.lower() in errors[0].lower()
    assert "Traceback" not in err


def test_bad_numbers_are_refused(capsys, tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["train", str(tmp_path), "--epochs", "0"])
    assert exc.value.code == 2
    assert "at least 1" in capsys.readouterr().err


@pytest.mark.slow
def test_demo_end_to_end(run_cli):
    code, out, err = run_cli("demo", "--epochs", "1", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["test"]["accuracy"] > 0.5  # 10 classes: chance is 0.1
    assert len(result["classes"]) == 10
    # The whole workflow: the run was exported as a verified bundle, and that file, loaded back,
    # predicted the test pictures as the evaluation did.
    assert result["export"]["format"] == "bundle" and result["export"]["verification"]["ok"]
    bundle = Path(result["export"]["path"])
    assert bundle.exists() and bundle.name == f"digits-{result['run']}.cnnmodel"
    predicted = result["predict"]
    assert predicted["model"] == str(bundle) and predicted["pictures"] == result["test"]["images"]
    assert predicted["right"] == round(result["test"]["accuracy"] * predicted["pictures"])
