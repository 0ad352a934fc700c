"""Listing a source: the four layouts, junk, links, odd names, CSV variants, and unusable sources."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from image_fixtures import write_tiny_image_folder
from PIL import Image

from cnnstudio.core.dataset import DatasetIndex, Sample, scan_source
from cnnstudio.core.dataset.problems import MISSING, UNSUPPORTED
from cnnstudio.core.errors import UserError


def picture(path: Path, size: tuple[int, int] = (8, 8), color: tuple[int, int, int] = (200, 30, 30)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def rel(index: DatasetIndex, sample: Sample) -> str:
    return os.path.relpath(sample.path, index.source).replace(os.sep, "/")


def test_class_folders_label_by_top_folder_also_for_deeper_pictures(tmp_path: Path) -> None:
    root = write_tiny_image_folder(tmp_path / "data", classes=2, per_class=3)
    picture(root / "class_1" / "more" / "deeper" / "x.png")
    index = scan_source(root)
    assert index.layout == "class_folders"
    assert index.classes == ["class_0", "class_1"]
    assert index.counts() == {"class_0": 3, "class_1": 4}
    deep = next(s for s in index.samples if s.path.endswith("deeper/x.png"))
    assert deep.label == "class_1" and deep.split is None and not deep.given_split
    assert all(os.path.isabs(s.path) and "\\" not in s.path for s in index.samples)
    assert [s.path for s in index.samples] == sorted(s.path for s in index.samples)


def test_split_folders_are_used_as_given(tmp_path: Path) -> None:
    for split, n in (("train", 4), ("valid", 2), ("Test", 2)):
        for cls in ("cat", "dog"):
            for i in range(n):
                picture(tmp_path / "d" / split / cls / f"{i}.png")
    index = scan_source(tmp_path / "d")
    assert index.layout == "split_folders"
    assert index.classes == ["cat", "dog"]
    splits = {(s.split, s.label) for s in index.samples}
    assert splits == {(sp, c) for sp in ("train", "val", "test") for c in ("cat", "dog")}
    assert all(s.given_split for s in index.samples)


def test_a_class_named_train_among_other_classes_is_a_class(tmp_path: Path) -> None:
    for cls in ("bus", "car", "train"):
        picture(tmp_path / "d" / cls / "a.png")
    index = scan_source(tmp_path / "d")
    assert index.layout == "class_folders"
    assert index.classes == ["bus", "car", "train"]


def test_flat_folder_is_unlabelled(tmp_path: Path) -> None:
    for i in range(3):
        picture(tmp_path / "flat" / f"{i}.jpg")
    index = scan_source(tmp_path / "flat")
    assert index.layout == "flat"
    assert len(index.samples) == 3 and all(s.label is None for s in index.samples)
    assert index.classes == [] and index.counts() == {}


def test_pictures_outside_class_folders_are_unlabelled_with_a_note(tmp_path: Path) -> None:
    root = write_tiny_image_folder(tmp_path / "data", classes=2, per_class=2)
    picture(root / "loose.png")
    index = scan_source(root)
    loose = next(s for s in index.samples if s.path.endswith("loose.png"))
    assert loose.label is None and loose.problem is None
    assert any("1 picture is not inside a class folder, so it has no label" in n for n in index.notes)


def test_extensions_in_any_case_and_every_kind(tmp_path: Path) -> None:
    names = ["a.JPG", "b.jpeg", "c.Png", "d.bmp", "e.GIF", "f.webp", "g.tif", "h.TIFF"]
    for name in names:
        (tmp_path / "d" / "cls").mkdir(parents=True, exist_ok=True)
        (tmp_path / "d" / "cls" / name).write_bytes(b"x")
    index = scan_source(tmp_path / "d")
    assert sorted(Path(s.path).name for s in index.samples) == sorted(names)
    assert all(s.problem is None for s in index.samples)  # not opened: problems come from check_images


def test_junk_hidden_and_side_files_are_ignored_but_unknown_kinds_are_listed(tmp_path: Path) -> None:
    root = tmp_path / "d"
    picture(root / "cat" / "ok.png")
    for junk in (".DS_Store", "Thumbs.db", "._ok.png", ".hidden.png", "desktop.ini", "notes.txt", "README"):
        (root / "cat" / junk).write_bytes(b"junk")
    picture(root / ".git" / "x.png")
    picture(root / "__MACOSX" / "cat" / "ok.png")
    (root / "cat" / "photo.heic").write_bytes(b"not really")
    index = scan_source(root)
    names = sorted(Path(s.path).name for s in index.samples)
    assert names == ["ok.png", "photo.heic"]
    heic = next(s for s in index.samples if s.path.endswith(".heic"))
    assert heic.problem is not None and heic.problem.startswith(UNSUPPORTED) and "HEIC" in heic.problem
    assert index.classes == ["cat"]


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links need privileges on Windows")
def test_symlink_loop_does_not_hang_and_linked_folders_are_read_once(tmp_path: Path) -> None:
    root = tmp_path / "d"
    picture(root / "cat" / "a.png")
    picture(tmp_path / "elsewhere" / "b.png")
    os.symlink(root, root / "cat" / "loop")  # cat/loop -> d: a cycle
    os.symlink(tmp_path / "elsewhere", root / "dog")  # a linked class folder is followed
    os.symlink(tmp_path / "nowhere", root / "broken")  # a broken link to a folder is skipped quietly
    index = scan_source(root)
    assert sorted(rel(index, s) for s in index.samples) == ["cat/a.png", "dog/b.png"]


def test_names_with_spaces_and_non_ascii_letters(tmp_path: Path) -> None:
    root = tmp_path / "my data"
    picture(root / "chat noir" / "été 1.png")
    picture(root / "犬" / "写真 2.jpg")
    index = scan_source(root)
    assert index.classes == ["chat noir", "犬"]
    assert {Path(s.path).name for s in index.samples} == {"été 1.png", "写真 2.jpg"}


def test_missing_source_and_folder_without_pictures_are_user_errors(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="does not exist"):
        scan_source(tmp_path / "nope")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("hi")
    with pytest.raises(UserError, match="No pictures were found"):
        scan_source(tmp_path / "empty")
    (tmp_path / "heic" / "a.heic").parent.mkdir()
    (tmp_path / "heic" / "a.heic").write_bytes(b"x")
    with pytest.raises(UserError, match="only 1 files of other kinds: .heic"):
        scan_source(tmp_path / "heic")
    (tmp_path / "file.png").write_bytes(b"x")
    with pytest.raises(UserError, match="is a file"):
        scan_source(tmp_path / "file.png")


def test_csv_with_relative_paths_and_no_header(tmp_path: Path) -> None:
    picture(tmp_path / "imgs" / "a 1.png")
    picture(tmp_path / "imgs" / "b.png")
    picture(tmp_path / "imgs" / "c.png")
    csv = tmp_path / "labels.csv"
    csv.write_text("imgs/a 1.png,cat\nimgs/b.png,dog\n\nimgs/c.png\nimgs/gone.png,cat\n", encoding="utf-8")
    index = scan_source(csv)
    assert index.layout == "csv" and index.source == csv
    by_name = {Path(s.path).name: s for s in index.samples}
    assert by_name["a 1.png"].label == "cat" and by_name["b.png"].label == "dog"
    assert by_name["c.png"].label is None
    assert by_name["gone.png"].problem is not None and by_name["gone.png"].problem.startswith(MISSING)
    assert "line 5" in by_name["gone.png"].problem
    assert by_name["a 1.png"].path == (tmp_path / "imgs" / "a 1.png").as_posix()


def test_csv_header_semicolons_and_column_order(tmp_path: Path) -> None:
    picture(tmp_path / "a.png")
    picture(tmp_path / "b.png")
    csv = tmp_path / "sub" / "list.csv"
    csv.parent.mkdir()
    csv.write_text("\ufeffclass;filename\ncat;../a.png\ndog;../b.png\ncat;../a.png\n", encoding="utf-8")
    index = scan_source(csv)
    assert {(Path(s.path).name, s.label) for s in index.samples} == {("a.png", "cat"), ("b.png", "dog")}
    assert any("already listed" in n for n in index.notes)


def test_csv_whose_files_are_all_missing_is_a_user_error(tmp_path: Path) -> None:
    csv = tmp_path / "l.csv"
    csv.write_text("path,label\nx.png,cat\n")
    with pytest.raises(UserError, match="None of the 1 files"):
        scan_source(csv)
    csv.write_text("path,label\n")
    with pytest.raises(UserError, match="lists no pictures"):
        scan_source(csv)


def test_index_round_trips_through_a_dict(tmp_path: Path) -> None:
    index = scan_source(write_tiny_image_folder(tmp_path / "d", classes=2, per_class=2))
    index.samples[0].width, index.samples[0].height, index.samples[0].problem = 5, 6, "empty file (0 bytes)"
    again = DatasetIndex.from_dict(index.to_dict())
    assert again == index
    assert again.problems() == [index.samples[0]] and len(again.usable()) == 3
