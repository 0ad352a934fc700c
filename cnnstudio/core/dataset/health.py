"""A dataset's health: counts, balance, copies, tiny pictures and problems, with plain-word warnings."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from cnnstudio.core.dataset.formats import SPLITS
from cnnstudio.core.dataset.index import DatasetIndex
from cnnstudio.core.words import plural

# Below 10 images a class cannot give both validation and test sets more than one or two pictures,
# so scores on it mean little; 10 is also the usual "at least" in teaching material.
MIN_CLASS_IMAGES = 10
# From 5:1 on, a model judged by accuracy can do well by mostly predicting the big class.
IMBALANCE_WARNING_RATIO = 5.0
TINY_SIDE = 16  # pixels; a picture smaller than this on either side holds little to learn from
MAX_NAMED = 5  # classes named one by one in a warning before they are summed up


@dataclass
class HealthSummary:
    classes: dict[str, int]  # usable, labelled images per class
    usable: int
    problems: int
    unlabelled: int  # usable images without a label
    imbalance_ratio: float | None  # largest class / smallest class; None with fewer than two classes
    small_classes: dict[str, int]  # classes with fewer than MIN_CLASS_IMAGES images
    duplicate_groups: list[list[str]] = field(default_factory=list)  # identical files, 2+ paths each
    cross_split_duplicates: list[list[str]] = field(default_factory=list)  # groups spanning two splits
    conflicting_duplicates: list[list[str]] = field(default_factory=list)  # groups with two labels
    tiny_images: list[str] = field(default_factory=list)
    split_counts: dict[str, dict[str, int]] = field(default_factory=dict)  # split -> class -> count
    duplicates_checked: bool = False  # False in a quick index (no file is read)
    sizes_known: bool = False  # True once check_images has run
    min_class_images: int = MIN_CLASS_IMAGES
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def health_summary(
    index: DatasetIndex, *, find_duplicates: bool = True, known_duplicates: list[list[str]] | None = None
) -> HealthSummary:
    """Summarise `index`. Finding duplicates reads the files that share a size with another file;
    pass find_duplicates=False to open no file at all, and `known_duplicates` (groups found earlier,
    e.g. by the app once per open) to use those instead of reading files: paths no longer in the
    index leave their groups, and the same rules and warnings apply."""
    # One pass over the samples: this runs on every quick index of 100,000 files.
    usable = unlabelled = 0
    sizes_known = False
    counts: dict[str, int] = {}
    split_counts: dict[str, dict[str, int]] = {}
    tiny: list[str] = []
    for s in index.samples:
        if s.problem is not None:
            continue
        usable += 1
        label = s.label
        if label is None:
            unlabelled += 1
        else:
            counts[label] = counts.get(label, 0) + 1
            if s.split is not None:
                per_class = split_counts.setdefault(s.split, {})
                per_class[label] = per_class.get(label, 0) + 1
        if s.width is not None and s.height is not None:
            sizes_known = True
            if s.width < TINY_SIDE or s.height < TINY_SIDE:
                tiny.append(s.path)
    classes = {name: counts[name] for name in sorted(counts)}
    summary = HealthSummary(
        classes=classes,
        usable=usable,
        problems=len(index.samples) - usable,
        unlabelled=unlabelled,
        imbalance_ratio=max(classes.values()) / min(classes.values()) if len(classes) >= 2 else None,
        small_classes={c: n for c, n in classes.items() if n < MIN_CLASS_IMAGES},
        split_counts={sp: dict(sorted(split_counts[sp].items())) for sp in SPLITS if sp in split_counts},
        sizes_known=sizes_known,
        tiny_images=tiny,
    )
    if find_duplicates or known_duplicates is not None:
        by_path = {s.path: s for s in index.samples if s.problem is None}
        if known_duplicates is not None:
            groups = [[p for p in g if p in by_path] for g in known_duplicates]
            groups = [g for g in groups if len(g) > 1]
        else:
            from cnnstudio.core.dataset.duplicates import duplicate_groups  # a quick index needs no pool

            groups = duplicate_groups(by_path)
        summary.duplicates_checked = True
        summary.duplicate_groups = groups
        summary.cross_split_duplicates = [
            g for g in groups if len({by_path[p].split for p in g if by_path[p].split is not None}) > 1
        ]
        summary.conflicting_duplicates = [
            g for g in groups if len({by_path[p].label for p in g if by_path[p].label is not None}) > 1
        ]
    summary.warnings = _warnings(summary, index.notes)
    return summary


UNLABELLED_NOTE = "no label; label"  # in the scan's note on pictures outside class folders (scan.py)


def _warnings(h: HealthSummary, notes: list[str]) -> list[str]:
    out: list[str] = []
    if h.problems:
        out.append(f"{plural(h.problems, 'file')} cannot be used and will be left out (see the problems).")
    for note in notes:
        if UNLABELLED_NOTE not in note:
            out.append(note)
        elif h.unlabelled:  # the scan's count of pictures outside the class folders, made current:
            # those labelled in the app since (this session or an earlier one) have a label now
            one = h.unlabelled == 1
            out.append(
                f"{h.unlabelled} {'picture has' if one else 'pictures have'} no label yet; label "
                f"{'it' if one else 'them'} in the app or move {'it' if one else 'them'} into a class folder."
            )
    if not h.classes:
        out.append(
            "No picture has a label yet. Put the pictures into one folder per class, or label them in the app."
        )
    elif len(h.classes) == 1:
        out.append(f"Only one class ('{next(iter(h.classes))}') was found; a classifier needs at least two.")
    if len(h.small_classes) > MAX_NAMED:
        names = ", ".join(f"'{c}'" for c in list(h.small_classes)[:MAX_NAMED])
        out.append(
            f"{len(h.small_classes)} classes have fewer than {MIN_CLASS_IMAGES} images ({names}, ...); "
            f"at least {MIN_CLASS_IMAGES} each are needed for a useful split."
        )
    else:
        for name, n in h.small_classes.items():
            out.append(
                f"Class '{name}' has {plural(n, 'image')}; at least {MIN_CLASS_IMAGES} are needed for a useful split."
            )
    if h.imbalance_ratio is not None and h.imbalance_ratio >= IMBALANCE_WARNING_RATIO:
        big = max(h.classes, key=lambda c: h.classes[c])
        small = min(h.classes, key=lambda c: h.classes[c])
        out.append(
            f"The classes are unbalanced: '{big}' has {h.imbalance_ratio:.0f} times as many images as "
            f"'{small}' ({h.classes[big]} against {h.classes[small]}); the model may favour '{big}'. "
            "Adding pictures of the small classes helps most."
        )
    copies = sum(len(g) - 1 for g in h.duplicate_groups)
    if copies:
        out.append(
            f"{plural(copies, 'picture is an exact copy', 'pictures are exact copies')} of another one "
            f"({plural(len(h.duplicate_groups), 'group')}); copies add nothing new to learn."
        )
    if h.cross_split_duplicates:
        out.append(
            f"{plural(len(h.cross_split_duplicates), 'picture appears', 'pictures appear')} in more than one split "
            "as exact copies (for example in training and in test); this makes the scores look better than "
            "they really are."
        )
    if h.conflicting_duplicates:
        out.append(
            f"{plural(len(h.conflicting_duplicates), 'group of identical pictures carries', 'groups of identical pictures carry')} different labels; "
            "at least one label in each group is wrong."
        )
    if h.tiny_images:
        out.append(
            f"{plural(len(h.tiny_images), 'picture is', 'pictures are')} smaller than {TINY_SIDE} pixels "
            f"on a side; {'it holds' if len(h.tiny_images) == 1 else 'they hold'} little to learn from."
        )
    return out
