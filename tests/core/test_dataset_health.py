"""health_summary: counts, balance, small classes, copies (also across splits), tiny pictures."""

from __future__ import annotations

import shutil
from pathlib import Path

from image_fixtures import write_tiny_image_folder
from PIL import Image

from cnnstudio.core.dataset import (
    DatasetIndex,
    Sample,
    assign_splits,
    check_images,
    health_summary,
    scan_source,
)
from cnnstudio.core.dataset.health import MIN_CLASS_IMAGES


def test_counts_balance_and_small_classes() -> None:
    samples = [Sample(f"/d/big/{i}.png", "big") for i in range(60)]
    samples += [Sample(f"/d/cat/{i}.png", "cat") for i in range(4)]
    samples += [Sample("/d/cat/bad.png", "cat", problem="empty file (0 bytes)"), Sample("/d/x.png", None)]
    health = health_summary(DatasetIndex(Path("/d"), "class_folders", samples), find_duplicates=False)
    assert health.classes == {"big": 60, "cat": 4}
    assert (health.usable, health.problems, health.unlabelled) == (65, 1, 1)
    assert health.imbalance_ratio == 15
    assert health.small_classes == {"cat": 4}
    assert not health.duplicates_checked and not health.sizes_known
    assert (
        f"Class 'cat' has 4 images; at least {MIN_CLASS_IMAGES} are needed for a useful split."
        in health.warnings
    )
    assert any("unbalanced: 'big' has 15 times as many images as 'cat'" in w for w in health.warnings)
    assert any(w.startswith("1 file cannot be used") for w in health.warnings)
    assert set(health.to_dict()) >= {"classes", "imbalance_ratio", "duplicate_groups", "warnings"}


def test_one_class_and_no_labels_are_warned_about() -> None:
    one = DatasetIndex(Path("/d"), "class_folders", [Sample(f"/d/a/{i}.png", "a") for i in range(12)])
    assert any("Only one class ('a')" in w for w in health_summary(one, find_duplicates=False).warnings)
    flat = DatasetIndex(Path("/d"), "flat", [Sample("/d/1.png")])
    assert any(
        "No picture has a label yet" in w for w in health_summary(flat, find_duplicates=False).warnings
    )


def test_duplicates_within_and_across_splits_and_with_two_labels(tmp_path: Path) -> None:
    root = write_tiny_image_folder(tmp_path / "d", classes=2, per_class=12)
    shutil.copy(root / "class_0" / "img_000.png", root / "class_0" / "copy.png")  # same class
    shutil.copy(root / "class_0" / "img_002.png", root / "class_1" / "relabelled.png")  # other class
    index = scan_source(root)
    for s in index.samples:  # place the copies in chosen splits
        name = Path(s.path).name
        s.split = {
            "img_000.png": "train",
            "copy.png": "test",
            "img_002.png": "val",
            "relabelled.png": "val",
        }.get(name, "train")
    health = health_summary(index)
    groups = [[Path(p).name for p in g] for g in health.duplicate_groups]
    assert groups == [["copy.png", "img_000.png"], ["img_002.png", "relabelled.png"]]
    assert [[Path(p).name for p in g] for g in health.cross_split_duplicates] == [["copy.png", "img_000.png"]]
    assert [[Path(p).name for p in g] for g in health.conflicting_duplicates] == [
        ["img_002.png", "relabelled.png"]
    ]
    text = " ".join(health.warnings)
    assert "2 pictures are exact copies" in text
    assert "1 picture appears in more than one split" in text
    assert "1 group of identical pictures carries different labels" in text

    # Groups found earlier (the app finds them once per open) give the same summary without reading
    # a file; a picture no longer in the index leaves its group, and a group of one is no group.
    again = health_summary(index, find_duplicates=False, known_duplicates=health.duplicate_groups)
    assert again.duplicate_groups == health.duplicate_groups and again.warnings == health.warnings
    index.samples = [s for s in index.samples if Path(s.path).name != "copy.png"]
    fewer = health_summary(index, find_duplicates=False, known_duplicates=health.duplicate_groups)
    assert [[Path(p).name for p in g] for g in fewer.duplicate_groups] == [["img_002.png", "relabelled.png"]]
    assert fewer.cross_split_duplicates == [] and "1 picture is an exact copy" in " ".join(fewer.warnings)


def test_same_size_files_that_differ_are_not_duplicates(tmp_path: Path) -> None:
    for i in range(3):
        (tmp_path / "c").mkdir(exist_ok=True)
        Image.new("L", (4, 4), i).save(tmp_path / "c" / f"{i}.bmp")  # identical sizes, different bytes
    assert health_summary(scan_source(tmp_path)).duplicate_groups == []


def test_tiny_pictures_need_sizes_from_the_check(tmp_path: Path) -> None:
    root = write_tiny_image_folder(tmp_path / "d", classes=2, per_class=10)
    Image.new("RGB", (15, 200)).save(root / "class_0" / "thin.png")
    index = scan_source(root)
    assert health_summary(index, find_duplicates=False).tiny_images == []
    check_images(index, workers=1)
    assign_splits(index)
    health = health_summary(index)
    assert health.sizes_known and [Path(p).name for p in health.tiny_images] == ["thin.png"]
    assert any("1 picture is smaller than 16 pixels" in w for w in health.warnings)
    assert sum(sum(c.values()) for c in health.split_counts.values()) == 21
