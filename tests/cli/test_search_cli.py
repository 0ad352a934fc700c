"""`cnnstudio search` end to end on a tiny folder: JSON out, continuing a study, its user errors."""

from __future__ import annotations

import json


def test_search_json_then_continue_the_same_study(run_cli, tmp_path, tiny_image_folder):
    data = tiny_image_folder(classes=3, per_class=10, size=32)
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"learning_rate": {"min": 0.003, "max": 0.03}, "batch_size": [8, 16]}))
    project = tmp_path / "proj"
    common = ["--template", "tiny", "--epochs", "1", "--strategy", "random", "--space", str(space)]
    code, out, err = run_cli(
        "search", str(data), "--project-dir", str(project), "--trials", "2", *common, "--json"
    )
    assert code == 0, err
    result = json.loads(out)
    assert result["study"] == "search" and result["counts"]["complete"] == 2
    assert result["best"]["value"] == max(t["value"] for t in result["trials"])
    assert "Trial 0: learning rate" in err and "New search 'search'" in err
    for trial in result["trials"]:
        assert (project / "runs" / trial["run"] / "best.safetensors").exists()

    # The same command with more trials continues the study (its settings come from the study).
    code, out, err = run_cli("search", str(project), "--trials", "3", "--use-best")
    assert code == 0, err
    assert "Continuing the search 'search' (2 trials so far)" in err
    assert "3 trials (3 complete)" in out and "Best: trial" in out
    saved = json.loads((project / "project.json").read_text())
    assert saved["spec"]["name"] == "tiny" and saved["train_config"]["epochs"] == 1

    code, _, err = run_cli("search", str(project), "--trials", "3", "--strategy", "grid")
    assert code == 2 and "already exists with other settings (--strategy)" in err


def test_user_errors_are_one_line(run_cli, tmp_path, tiny_image_folder):
    data = tiny_image_folder(classes=2, per_class=4, size=32)
    bad = tmp_path / "space.json"
    bad.write_text('{"momentum": [0.9, 0.99]}')
    code, _, err = run_cli("search", str(data), "--project-dir", str(tmp_path / "p"), "--space", str(bad))
    assert code == 2 and "cannot vary 'momentum'" in err and err.count("\n") <= 1
    code, _, err = run_cli("search", str(data), "--project-dir", str(tmp_path / "p"), "--study", "a b")
    assert code == 2 and "cannot name a search" in err
