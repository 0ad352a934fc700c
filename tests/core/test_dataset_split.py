"""assign_splits: stratified, seeded, independent of listing order, respecting folder splits."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from cnnstudio.core.dataset import DatasetIndex, Sample, assign_splits
from cnnstudio.core.errors import UserError


def index_of(counts: dict[str, int], root: str = "/data") -> DatasetIndex:
    samples = [Sample(f"{root}/{c}/{i:04d}.png", c) for c, n in counts.items() for i in range(n)]
    return DatasetIndex(source=Path(root), layout="class_folders", samples=samples)


def split_of(index: DatasetIndex) -> dict[str, str | None]:
    return {s.path: s.split for s in index.samples}


def test_each_class_is_split_in_the_asked_proportions() -> None:
    index = index_of({"cat": 100, "dog": 40, "owl": 20})
    assert assign_splits(index) == []
    per_class = Counter((s.label, s.split) for s in index.samples)
    assert per_class == {
        ("cat", "train"): 70, ("cat", "val"): 15, ("cat", "test"): 15,
        ("dog", "train"): 28, ("dog", "val"): 6, ("dog", "test"): 6,
        ("owl", "train"): 14, ("owl", "val"): 3, ("owl", "test"): 3,
    }  # fmt: skip


def test_ratios_are_adjustable_and_may_be_percentages() -> None:
    index = index_of({"a": 100})
    assign_splits(index, ratios=(80, 20, 0))
    assert Counter(s.split for s in index.samples) == {"train": 80, "val": 20}


def test_same_seed_same_split_other_seed_other_split() -> None:
    a, b, c = index_of({"x": 60, "y": 60}), index_of({"x": 60, "y": 60}), index_of({"x": 60, "y": 60})
    assign_splits(a, seed=1)
    assign_splits(b, seed=1)
    assign_splits(c, seed=2)
    assert split_of(a) == split_of(b)
    assert split_of(a) != split_of(c)


def test_listing_order_does_not_matter() -> None:
    a = index_of({"x": 50, "y": 30})
    b = index_of({"x": 50, "y": 30})
    random.Random(4).shuffle(b.samples)
    assign_splits(a, seed=3)
    assign_splits(b, seed=3)
    assert split_of(a) == split_of(b)


def test_moving_the_dataset_folder_keeps_the_split() -> None:
    a, b = index_of({"x": 40}, root="/here"), index_of({"x": 40}, root="/somewhere/else")
    assign_splits(a)
    assign_splits(b)
    assert [s.split for s in a.samples] == [s.split for s in b.samples]


def test_adding_a_picture_moves_few_others() -> None:
    a, b = index_of({"x": 200}), index_of({"x": 201})
    assign_splits(a)
    assign_splits(b)
    before, after = split_of(a), split_of(b)
    moved = sum(before[p] != after[p] for p in before)
    assert moved <= 2


def test_a_class_too_small_to_split_goes_to_training_with_a_warning() -> None:
    index = index_of({"big": 30, "pair": 2, "three": 3})
    warnings = assign_splits(index)
    assert warnings == [
        "Class 'pair' has only 2 images, too few to split into training, validation and test sets; "
        "all of them are used for training."
    ]
    assert {s.split for s in index.samples if s.label == "pair"} == {"train"}
    assert Counter(s.split for s in index.samples if s.label == "three") == {"train": 1, "val": 1, "test": 1}


def test_unusable_and_unlabelled_samples_get_no_split() -> None:
    index = index_of({"a": 10})
    index.samples.append(Sample("/data/broken.png", "a", problem="empty file (0 bytes)"))
    index.samples.append(Sample("/data/loose.png", None))
    assign_splits(index)
    assert index.samples[-1].split is None and index.samples[-2].split is None


def split_folder_index(splits: dict[str, dict[str, int]]) -> DatasetIndex:
    samples = [
        Sample(f"/d/{sp}/{c}/{i:03d}.png", c, {"valid": "val"}.get(sp, sp), None, True)
        for sp, counts in splits.items()
        for c, n in counts.items()
        for i in range(n)
    ]
    return DatasetIndex(source=Path("/d"), layout="split_folders", samples=samples)


def test_given_splits_are_kept() -> None:
    index = split_folder_index({"train": {"a": 20}, "valid": {"a": 5}, "test": {"a": 5}})
    assert assign_splits(index) == []
    assert Counter(s.split for s in index.samples) == {"train": 20, "val": 5, "test": 5}
    assert all(s.split == s.path.split("/")[2].replace("valid", "val") for s in index.samples)


def test_train_and_test_only_carves_validation_from_train_stratified() -> None:
    index = split_folder_index({"train": {"a": 85, "b": 17}, "test": {"a": 10, "b": 10}})
    assign_splits(index)
    counts = Counter((s.path.split("/")[2], s.label, s.split) for s in index.samples)
    # Validation gets 0.15 / (0.70 + 0.15) of each class's training folder; the test folder stays as given.
    assert counts == {
        ("train", "a", "train"): 70, ("train", "a", "val"): 15,
        ("train", "b", "train"): 14, ("train", "b", "val"): 3,
        ("test", "a", "test"): 10, ("test", "b", "test"): 10,
    }  # fmt: skip
    again = split_folder_index({"train": {"a": 85, "b": 17}, "test": {"a": 10, "b": 10}})
    assign_splits(again)
    assign_splits(again)  # a second call sees the folders again, not its own carving
    assert split_of(again) == split_of(index)


def test_a_given_split_without_some_class_is_reported() -> None:
    index = split_folder_index({"train": {"a": 5, "b": 5}, "val": {"a": 2}, "test": {"a": 2, "b": 2}})
    assert assign_splits(index) == [
        "The validation folder has no pictures of class 'b', so that class is not measured there."
    ]


@pytest.mark.parametrize("ratios", [(0.5, 0.5), (0, 0.5, 0.5), (0.7, -0.1, 0.4), (float("nan"), 0, 0)])
def test_bad_ratios_are_user_errors(ratios: tuple) -> None:
    with pytest.raises(UserError, match="three shares"):
        assign_splits(index_of({"a": 5}), ratios=ratios)


def test_accepted_suggestions_train_and_people_keep_their_split() -> None:
    from cnnstudio.core.dataset.split import BULK, CONFIRMED, suggested_paths

    people = index_of({"x": 40, "y": 40})
    assign_splits(people, seed=2)
    both = index_of({"x": 40, "y": 40})
    for c in ("x", "y"):  # 120 more pictures labelled by accepting suggestions, in the same folders
        both.samples += [Sample(f"/data/{c}/s{i:04d}.png", c) for i in range(60)]
    marks = {s.path: {"label": s.label, "source": BULK} for s in both.samples if "/s" in s.path}
    marks["/data/x/0000.png"] = {"label": "x", "source": CONFIRMED}  # confirmed one by one: a person's
    marks["/data/x/s0000.png"] = {"label": "y", "source": BULK}  # relabelled since: a person's label
    suggested = suggested_paths(both.samples, marks, str)
    assert len(suggested) == 119 and "/data/x/0000.png" not in suggested
    assert "/data/x/s0000.png" not in suggested
    both.samples = [s for s in both.samples if s.path != "/data/x/s0000.png"]  # a 41st person's picture
    assign_splits(both, seed=2, suggested=suggested)
    after = split_of(both)
    assert {after[p] for p in suggested} == {"train"}
    assert {p: after[p] for p in split_of(people)} == split_of(people)  # not one person's picture moved
    # Counted apart: a share of them in validation, by their own order; people's split still the same.
    apart = index_of({"x": 40, "y": 40})
    apart.samples = list(both.samples)
    assign_splits(apart, seed=2, suggested=suggested, suggestions_apart=True)
    shown = split_of(apart)
    assert {p: shown[p] for p in split_of(people)} == split_of(people)
    counts = Counter(shown[p] for p in suggested)
    assert set(counts) == {"train", "val"} and 15 <= counts["val"] <= 25
