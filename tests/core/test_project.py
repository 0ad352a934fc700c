"""core.project: the project folder, its versioned file, the stored split, moved projects."""

from __future__ import annotations

import json
import shutil

import pytest

from cnnstudio.core.errors import UserError
from cnnstudio.core.project import PROJECT_FILE, SCHEMA_VERSION, Project


def test_create_open_round_trip(tmp_path, tiny_image_folder):
    data = tiny_image_folder(classes=2, per_class=4)
    project = Project.create(tmp_path / "proj", data)
    project.set_label(str(data / "class_0" / "img_000.png"), "class_1")
    project.spec = {"schema_version": 1, "layers": []}
    project.save()
    again = Project.open(tmp_path / "proj")
    assert again.source == data.resolve()
    assert again.labels == {"class_0/img_000.png": "class_1"}
    assert again.spec == project.spec
    assert json.loads((tmp_path / "proj" / PROJECT_FILE).read_text())["schema_version"] == SCHEMA_VERSION


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, tiny_image_folder):
    project = Project.create(tmp_path / "proj", tiny_image_folder())
    for _ in range(3):
        project.save()
    assert sorted(p.name for p in (tmp_path / "proj").iterdir()) == [PROJECT_FILE]


def test_version_1_file_opens_and_newer_is_refused(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / PROJECT_FILE).write_text(json.dumps({"schema_version": 1, "name": "old"}))
    assert Project.open(folder).name == "old"
    (folder / PROJECT_FILE).write_text(json.dumps({"schema_version": 99}))
    with pytest.raises(UserError, match="newer CNN Studio"):
        Project.open(folder)
    (folder / PROJECT_FILE).write_text("{ not json")
    with pytest.raises(UserError, match="damaged"):
        Project.open(folder)


def test_not_a_project_is_a_plain_error(tmp_path):
    with pytest.raises(UserError, match="not a CNN Studio project"):
        Project.open(tmp_path)


def test_moved_project_finds_data_that_moved_with_it(tmp_path, tiny_image_folder):
    root = tmp_path / "a"
    data = tiny_image_folder(name="a/data")
    Project.create(root / "proj", data)
    shutil.move(str(root), str(tmp_path / "b"))
    moved = Project.open(tmp_path / "b" / "proj")
    assert moved.source == (tmp_path / "b" / "data").resolve()


def test_split_is_stored_and_stable_when_files_are_added(tmp_path, tiny_image_folder):
    data = tiny_image_folder(classes=3, per_class=20)
    project = Project.create(tmp_path / "proj", data)
    first = {s.path: s.split for s in project.index(check=False).samples}
    assert set(first.values()) == {"train", "val", "test"}
    (data / "class_0" / "img_000.png").rename(data / "class_0" / "zz_new.png")
    reopened = Project.open(tmp_path / "proj")
    second = {s.path: s.split for s in reopened.index(check=False).samples}
    for path, split in second.items():
        if path in first:
            assert first[path] == split
    assert second[str((data / "class_0" / "zz_new.png").resolve().as_posix())] in {"train", "val", "test"}


def test_label_edits_and_exclusions_apply_to_the_index(tmp_path, tiny_image_folder):
    data = tiny_image_folder(classes=2, per_class=5)
    project = Project.create(tmp_path / "proj", data)
    moved = data / "class_0" / "img_001.jpg"
    project.set_label(str(moved), "class_1")
    project.excluded.add("class_0/img_002.png")
    index = project.index(check=False)
    by_path = {s.path: s for s in index.samples}
    assert by_path[moved.resolve().as_posix()].label == "class_1"
    assert (data / "class_0" / "img_002.png").resolve().as_posix() not in by_path
    assert moved.exists()  # the user's folders are untouched


def test_arrays_decode_each_split(tmp_path, tiny_image_folder):
    data = tiny_image_folder(classes=2, per_class=10)
    project = Project.create(tmp_path / "proj", data)
    index = project.index(check=True)
    splits, names = project.arrays(index, 16, 16, 3, "stretch")
    assert names == ["class_0", "class_1"]
    assert sum(len(s.y) for s in splits.values()) == 20
    for s in splits.values():
        assert s.X.dtype.name == "uint8" and s.X.shape[1:] == (3, 16, 16) and len(s.paths) == len(s.y)


def test_one_class_is_a_plain_error(tmp_path, tiny_image_folder):
    project = Project.create(tmp_path / "proj", tiny_image_folder(classes=1, per_class=5))
    with pytest.raises(UserError, match="at least 2 classes"):
        project.arrays(project.index(check=False), 8, 8, 3, "stretch")
