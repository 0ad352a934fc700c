"""The readers single models and ensembles, designs and search spaces share: the header check of a
.cnnmodel's model.json (core/export/archive.py) and JSON files a person gave (core/jsonfile.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnstudio.core.errors import UserError
from cnnstudio.core.export.archive import check_model_json
from cnnstudio.core.jsonfile import parse_json_text, read_json_file, read_text_file

GOOD = {"format": "cnnstudio-ensemble", "schema_version": 1, "class_names": ["cat", "dog"]}


def check(data: dict) -> int:
    return check_model_json(
        Path("two.cnnmodel"), data, "cnnstudio-ensemble", 1, "ensemble", "it is not an ensemble"
    )


def test_a_good_header_gives_its_version():
    assert check(GOOD) == 1


@pytest.mark.parametrize(
    "change, words",
    [
        ({"format": "cnnstudio-model"}, "it is not an ensemble"),
        ({"schema_version": None}, "has no valid version"),
        ({"schema_version": True}, "has no valid version"),
        ({"schema_version": 0}, "has no valid version"),
        ({"schema_version": "1"}, "has no valid version"),
        ({"schema_version": 2}, "newer CNN Studio (ensemble version 2); update CNN Studio"),
        ({"class_names": []}, "no valid list of class names"),
        ({"class_names": ["cat", ""]}, "no valid list of class names"),
        ({"class_names": ["cat", "cat"]}, "no valid list of class names"),
        ({"class_names": "cat,dog"}, "no valid list of class names"),
    ],
)
def test_a_bad_header_is_refused_in_words(change, words):
    with pytest.raises(UserError) as caught:
        check({**GOOD, **change})
    assert words in str(caught.value) and "two.cnnmodel" in str(caught.value)


def test_json_files_say_what_is_wrong_with_them(tmp_path):
    with pytest.raises(UserError, match=r"^There is no search space file at .*nowhere\.json\.$"):
        read_json_file(tmp_path / "nowhere.json", "search space file")
    with pytest.raises(UserError, match="The model design file .* cannot be read"):
        read_text_file(tmp_path, "model design file")  # a folder
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff\xfe{")
    with pytest.raises(UserError, match="cannot be read"):
        read_text_file(bad, "model design file")
    bad.write_text('{"a": 1,\n  "b": }', encoding="utf-8")
    with pytest.raises(UserError, match=r"The search space file .*bad\.json is not valid JSON \(.*line 2\)"):
        read_json_file(bad, "search space file")
    with pytest.raises(
        UserError, match=r"^This model design file is not valid JSON \(Expecting value, line 1\)\.$"
    ):
        parse_json_text("", "model design file")
    good = tmp_path / "good.json"
    good.write_text('{"learning_rate": [0.01, 0.1]}', encoding="utf-8")
    assert read_json_file(good, "search space file") == {"learning_rate": [0.01, 0.1]}
