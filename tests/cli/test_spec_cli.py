"""`cnnstudio spec`: the layer table, JSON output and exit codes."""

from __future__ import annotations

import json
import re

import pytest

from cnnstudio.cli import main
from cnnstudio.cli.spec import TEMPLATE_NAMES
from cnnstudio.core.spec import TEMPLATES, Conv2D, Dense, Input, ModelSpec


def test_template_table(capsys):
    assert main(["spec", "--template", "seed"]) == 0
    out = capsys.readouterr().out
    assert "Model: seed" in out
    assert "conv2d_1 (Conv2D)" in out and "(64, 29, 29)" in out and "1,605,760" in out
    assert "Parameters: 1,626,442 (1,626,442 trainable, 0 frozen)" in out
    assert "FLOPs per image:" in out and "Memory per image" in out
    assert "Problem" not in out


def test_classes_and_frozen_totals(capsys):
    assert main(["spec", "--template", "resnet18", "--classes", "3"]) == 0
    out = capsys.readouterr().out
    assert "(Backbone, frozen)" in out
    assert "Parameters: 11,178,051 (1,539 trainable, 11,176,512 frozen)" in out


def test_json_output(capsys):
    assert main(["spec", "--template", "tiny", "--classes", "4", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["spec"]["schema_version"] == 1
    assert data["report"]["layers"][-1]["output_shape"] == [4]
    assert data["report"]["error"] is None


def test_an_invalid_design_file_prints_the_table_and_the_problem(tmp_path, capsys):
    path = tmp_path / "broken.json"
    ModelSpec([Input(32, 32), Conv2D(8, 3), Dense("auto")]).save(path)
    assert main(["spec", str(path), "--classes", "2"]) == 2
    out = capsys.readouterr().out
    assert "conv2d (Conv2D)" in out and "dense (Dense)" in out
    assert "Problem: Dense #2: this layer needs a flat input" in out
    assert main(["spec", str(path), "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["report"]["error"].startswith("Dense #2")


def test_user_mistakes_exit_2_with_one_line(tmp_path, capsys):
    assert main(["spec", "--template", "vgg"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cnnstudio spec: There is no template called 'vgg'") and "small-vgg" in err
    assert main(["spec"]) == 2
    assert "Give either a model design file or --template" in capsys.readouterr().err
    assert main(["spec", str(tmp_path / "nothing.json")]) == 2
    assert "There is no model design file" in capsys.readouterr().err
    assert main(["spec", "--template", "seed", "--classes", "0"]) == 2


def test_help_lists_every_template(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["spec", "--help"])
    assert exit_info.value.code == 0
    shown = capsys.readouterr().out
    # argparse wraps long lines, also at hyphens: compare with the white space taken out.
    listed = shown.split("a built-in design:", 1)[1].split("--classes", 1)[0]
    assert re.sub(r"\s+", "", listed).split(",") == list(TEMPLATES)
    assert TEMPLATE_NAMES == tuple(TEMPLATES)
