"""core/labels/: class and label edits that undo exactly, and writing labels to folders with a journal."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cnnstudio.core.errors import UserError
from cnnstudio.core.labels.edits import LabelEditor, check_class_name
from cnnstudio.core.labels.folders import list_write_journals, plan_write, undo_write, write_labels
from cnnstudio.core.labels.resplit import fill_missing_splits, resplit
from cnnstudio.core.project import Project


def _open(tmp_path: Path, data: Path) -> tuple[Project, LabelEditor]:
    project = Project.create(tmp_path / "proj", data)
    index = project.index(check=False)
    return project, LabelEditor(project, index)


def _state(project: Project, editor: LabelEditor):
    return (
        dict(project.labels),
        list(project.extra_classes),
        [(s.path, s.label) for s in editor.index.samples],
    )


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_class_edits_apply_and_revert_exactly(tmp_path, tiny_image_folder):
    project, editor = _open(tmp_path, tiny_image_folder(classes=3, per_class=4))
    start = _state(project, editor)
    edits = [
        editor.create_class("bird"),
    ]
    editor.apply(edits[-1])
    assert editor.counts()["bird"] == 0 and project.extra_classes == ["bird"]
    edits.append(editor.rename_class("class_0", "cat"))
    editor.apply(edits[-1])
    assert "class_0" not in editor.classes() and editor.counts()["cat"] == 4
    edits.append(editor.merge_classes(["class_1"], "cat"))
    editor.apply(edits[-1])
    assert editor.counts()["cat"] == 8 and "class_1" not in editor.classes()
    edits.append(editor.delete_class("class_2"))
    editor.apply(edits[-1])
    assert "class_2" not in editor.classes() and len(editor.unlabelled_queue()) == 4
    assert editor.classes() == ["bird", "cat"]
    # Saved: a reopened project sees the edits, including the class without images.
    again = Project.open(project.folder)
    assert again.extra_classes == ["bird"]
    assert sorted(set(again.labels.values()) - {None}) == ["cat"]
    for edit in reversed(edits):
        editor.revert(edit)
    assert _state(project, editor) == start
    assert Project.open(project.folder).labels == {}


def test_assigning_keeps_an_emptied_class_and_the_queue_advances(tmp_path, tiny_image_folder):
    project, editor = _open(tmp_path, tiny_image_folder(classes=2, per_class=3))
    class_0 = [s.path for s in editor.index.samples if s.label == "class_0"]
    editor.apply(editor.assign(class_0, "class_1"))
    assert editor.counts() == {"class_0": 0, "class_1": 6}  # still listed, so it can be labelled into
    editor.apply(editor.assign(class_0[:2], None))
    queue = editor.unlabelled_queue()
    assert queue == class_0[:2]
    assert editor.next_unlabelled(None) == queue[0]
    assert editor.next_unlabelled(queue[0]) == queue[1]
    assert editor.next_unlabelled(queue[1]) == queue[0]  # wraps around
    edit = editor.assign([queue[0]], "brand new")  # a new name creates the class
    editor.apply(edit)
    assert "brand new" in editor.classes()
    assert editor.assign([queue[0]], "brand new").empty  # nothing changes: nothing to undo


@pytest.mark.parametrize("bad", ["", "   ", "a/b", "x\\y", "..", ".hidden", "what?", "a" * 81])
def test_class_names_that_cannot_be_folders_are_refused(bad):
    with pytest.raises(UserError):
        check_class_name(bad)


def test_duplicate_names_are_refused_in_any_case(tmp_path, tiny_image_folder):
    _project, editor = _open(tmp_path, tiny_image_folder(classes=2, per_class=2))
    with pytest.raises(UserError, match="already a class"):
        editor.create_class("CLASS_0")
    with pytest.raises(UserError, match="merge"):
        editor.rename_class("class_0", "class_1")
    with pytest.raises(UserError, match="no class"):
        editor.delete_class("nope")
    editor.apply(editor.rename_class("class_0", "Class_0"))  # a change of case is a rename
    assert "Class_0" in editor.classes()


def test_copy_to_folders_never_overwrites_and_undo_removes_only_the_copies(tmp_path, tiny_image_folder):
    data = tiny_image_folder(classes=2, per_class=3)
    project, editor = _open(tmp_path, data)
    first = editor.index.samples[0]
    editor.apply(editor.assign([first.path], "class_1"))
    dest = tmp_path / "out"
    (dest / "class_1").mkdir(parents=True)
    clash = dest / "class_1" / Path(first.path).name
    clash.write_bytes(b"the user's own file")
    before_source = _tree(data)
    plan = plan_write(project, editor.index, "copy", dest)
    assert len(plan.ops) == 6 and plan.unchanged == 0
    journal = write_labels(project, editor.index, plan)
    assert clash.read_bytes() == b"the user's own file"
    stem = Path(first.path).stem
    assert any(p.name.startswith(f"{stem}_1") for p in (dest / "class_1").iterdir())
    assert len(list((dest / "class_1").iterdir())) == 4 + 1  # 3 + the relabelled one + the user's file
    assert len(list((dest / "class_0").iterdir())) == 2
    assert _tree(data) == before_source  # the source is untouched by a copy
    assert list_write_journals(project) == [journal]
    assert undo_write(project, journal, editor.index) == 6
    assert _tree(dest) == {"class_1/" + clash.name: b"the user's own file"}
    assert not (dest / "class_0").exists()  # folders the write created are gone again
    assert list_write_journals(project) == []


def test_copy_refuses_a_destination_inside_the_image_folder(tmp_path, tiny_image_folder):
    data = tiny_image_folder()
    project, editor = _open(tmp_path, data)
    with pytest.raises(UserError, match="outside"):
        plan_write(project, editor.index, "copy", data / "sorted")


def test_move_in_place_and_undo_restore_files_and_project_exactly(tmp_path, tiny_image_folder):
    data = tiny_image_folder(classes=2, per_class=4)
    project, editor = _open(tmp_path, data)
    samples = editor.index.samples
    editor.apply(editor.assign([samples[0].path, samples[5].path], "class_1"))
    editor.apply(editor.create_class("spare"))
    editor.apply(editor.assign([samples[1].path], "spare"))
    editor.apply(editor.assign([samples[2].path], None))
    project.save()
    files_before = _tree(data)
    project_before = json.loads(project.file.read_text())
    index_before = [(s.path, s.label, s.split) for s in samples]

    plan = plan_write(project, editor.index, "move")
    assert (len(plan.ops), plan.skipped_unlabelled) == (2, 1)  # samples[5] is class_1 already
    journal = write_labels(project, editor.index, plan)
    assert (data / "spare").is_dir()
    # A fresh index reads from the folders what the label edits said: no edits are left for moved files.
    fresh = Project.open(project.folder).index(check=False)
    labels = {Path(s.path).name: s.label for s in fresh.samples if Path(s.path).parent.name != "class_0"}
    assert labels[Path(samples[1].path).name] == "spare"
    assert all(Path(s.path).parent.name == s.label for s in fresh.samples if s.label is not None)
    assert project.key(samples[0].path) not in project.labels

    undo_write(project, journal, editor.index)
    assert _tree(data) == files_before
    assert not (data / "spare").exists()
    after = json.loads(project.file.read_text())
    assert after["labels"] == project_before["labels"]
    assert after["split"] == project_before["split"]
    assert [(s.path, s.label, s.split) for s in editor.index.samples] == index_before


def test_a_stopped_write_is_undone_too(tmp_path, tiny_image_folder):
    data = tiny_image_folder(classes=2, per_class=4)
    project, editor = _open(tmp_path, data)
    editor.apply(editor.rename_class("class_0", "zero"))
    files_before = _tree(data)
    calls = iter(range(100))
    plan = plan_write(project, editor.index, "move")
    journal = write_labels(project, editor.index, plan, should_stop=lambda: next(calls) >= 2)
    assert json.loads(journal.read_text())["status"] == "stopped"
    assert len(list((data / "zero").iterdir())) == 2
    undo_write(project, journal, editor.index)
    assert _tree(data) == files_before


def test_splits_are_filled_for_newly_labelled_images_and_resplit_is_seeded(tmp_path, tiny_image_folder):
    data = tiny_image_folder(classes=2, per_class=20)
    project, editor = _open(tmp_path, data)
    index = editor.index
    first = {s.path: s.split for s in index.samples}
    moved = [s for s in index.samples if s.label == "class_0"][:6]
    editor.apply(editor.assign([s.path for s in moved], None))
    for s in moved:
        s.split = None
    editor.apply(editor.assign([s.path for s in moved], "class_0"))
    assert fill_missing_splits(project, index) == 6
    assert all(s.split in {"train", "val", "test"} for s in index.samples)
    untouched = [s for s in index.samples if s not in moved]
    assert all(first[s.path] == s.split for s in untouched)  # nobody else moved
    resplit(project, index, seed=7)
    a = {s.path: s.split for s in index.samples}
    resplit(project, index, seed=7)
    assert {s.path: s.split for s in index.samples} == a
    assert project.split_seed == 7 and len(project.split_assignments) == 40
