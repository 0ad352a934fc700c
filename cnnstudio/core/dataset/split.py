"""Stratified, seeded train/validation/test split.

Each class is split on its own, in the same proportions. Within a class, pictures are ordered by a
hash of (seed, path relative to the source), which makes the split independent of the order files
were listed in, the same on every machine (even after the dataset folder moves), and stable when a
few pictures are added: most pictures keep their split.

Only people's labels grade a model (`split_suggestions`, the one place of that rule): a picture whose
label is a model's suggestion accepted in bulk goes to training, never to validation or test.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from cnnstudio.core.dataset.index import DatasetIndex, Sample
from cnnstudio.core.dataset.scan import folder_split
from cnnstudio.core.errors import UserError

SPLIT_WORDS = {"train": "training", "val": "validation", "test": "test"}

# How a suggestion was accepted (the "source" of a mark in Project.accepted): in bulk ("Accept all
# above", `suggest --accept-above`), or looked at and confirmed one by one (Enter in the queue).
BULK, CONFIRMED = "bulk", "confirmed"


def is_bulk_mark(mark: Mapping[str, Any] | None) -> bool:
    """Whether an accepted-suggestion mark was accepted in bulk. A mark from before marks said how
    (no "source") counts as bulk: it cannot be told apart, and grading on it is the worse mistake."""
    return mark is not None and mark.get("source", BULK) != CONFIRMED


def suggested_paths(
    samples: Iterable[Sample], accepted: Mapping[str, Mapping[str, Any]], key: Callable[[str], str]
) -> frozenset[str]:
    """Paths of the usable samples whose label is a suggestion accepted in bulk and not changed since.

    `accepted` is `Project.accepted` (key -> mark), `key` is `Project.key`. See `split_suggestions`.
    """
    if not any(is_bulk_mark(mark) for mark in accepted.values()):
        return frozenset()  # the common case, without a key per picture
    out = []
    for s in samples:
        if s.problem is None and s.label is not None:
            mark = accepted.get(key(s.path))
            if is_bulk_mark(mark) and mark.get("label") == s.label:
                out.append(s.path)
    return frozenset(out)


def split_suggestions(
    samples: Iterable[Sample],
    suggested: Collection[str],
    *,
    apart_share: float = 0.0,
    seed: int = 0,
    base: str = "",
) -> int:
    """Only people's labels grade a model: each usable sample in `suggested` goes to training.

    Why: a label accepted in bulk is what a model predicted. In validation or test, the model that
    proposed it (or its fine-tuned successor) gets it right by construction: one run list showed
    96.3% validation accuracy where the pictures labelled by people gave 80.5%, and a wrongly accepted
    label turned up as a "model mistake". So validation and test hold labels a person gave or
    confirmed one by one, and accepting suggestions leaves the graded pictures as they were, so the
    numbers before and after are comparable.

    With `apart_share` > 0 (a project that asks for it: `Project.suggestions_apart`), that share of
    each class goes to validation by its own hash order, to be reported apart from people's labels
    (`Project.arrays` keeps them out of the validation people's labels grade). Returns how many
    samples it placed.
    """
    chosen = [s for s in samples if s.path in suggested and s.problem is None and s.label is not None]
    for s in chosen:
        s.split = "train"
    if apart_share > 0 and chosen:
        # Their own hash order, apart from people's pictures: people's split does not move.
        _split_classes(chosen, {"val": apart_share}, seed, base, [])
    return len(chosen)


def assign_splits(
    index: DatasetIndex,
    ratios: Sequence[float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    suggested: Collection[str] = (),
    suggestions_apart: bool = False,
) -> list[str]:
    """Set `split` on every usable, labelled sample; return warnings in plain words.

    `ratios` (training, validation, test) may be fractions or percentages; they are scaled to sum to 1.
    Splits given by the folders (train/ val/ test/) are kept; a split the folders do not give is
    carved out of the training folder, class by class, so that it gets its share of the ratios
    (with train/ and test/ only, validation gets 0.15 / 0.85 of the training pictures by default).
    A class with too few pictures to give every split one (fewer than 3 for three splits) goes
    entirely to training, with a warning. Unusable samples get no split; unlabelled ones keep the
    split of their folder, if any.

    `suggested` (paths, see `suggested_paths`) are placed by `split_suggestions` and take no part in
    the split of the others, so people's pictures land where they would without them.
    """
    shares = _shares(ratios)
    warnings: list[str] = []
    source = str(index.source).replace(os.sep, "/")
    base = (source.rsplit("/", 1)[0] if index.layout == "csv" else source).rstrip("/") + "/"
    given: list[Sample] = []
    free: list[Sample] = []
    for s in index.samples:
        folder = folder_split(index, s) if s.given_split else None
        s.split = folder if s.problem is None else None
        if s.problem is None and s.label is not None and s.path not in suggested:
            (given if folder is not None else free).append(s)

    if given:
        warnings.extend(_absent_classes(given))
        present = {s.split for s in given}
        missing = [sp for sp in ("val", "test") if sp not in present and shares[sp] > 0]
        pool = [s for s in given if s.split == "train"]
        if missing:
            whole = shares["train"] + sum(shares[sp] for sp in missing)
            _split_classes(pool, {sp: shares[sp] / whole for sp in missing}, seed, base, warnings)
    if free:
        _split_classes(free, {"val": shares["val"], "test": shares["test"]}, seed, base, warnings)
    if suggested:
        apart = shares["val"] / (shares["train"] + shares["val"]) if suggestions_apart else 0.0
        split_suggestions(index.samples, suggested, apart_share=apart, seed=seed, base=base)
    return warnings


def _shares(ratios: Sequence[float]) -> dict[str, float]:
    values = [float(r) for r in ratios]
    if len(values) != 3 or any(not math.isfinite(v) or v < 0 for v in values) or values[0] <= 0:
        raise UserError(
            "The split needs three shares (training, validation, test), none below zero and training "
            "above zero, for example 70/15/15."
        )
    total = sum(values)
    return {"train": values[0] / total, "val": values[1] / total, "test": values[2] / total}


def _rank(seed: int, path: str, base: str) -> bytes:
    # The path relative to the source (a plain prefix cut: os.path.relpath costs 10x more per file).
    rel = path[len(base) :] if path.startswith(base) else path
    return hashlib.blake2b(f"{seed}\0{rel}".encode(), digest_size=8).digest() + rel.encode()


def _split_classes(
    samples: list[Sample], fractions: dict[str, float], seed: int, base: str, warnings: list[str]
) -> None:
    """Split each class of `samples`: the shares in `fractions` are carved out, the rest is training."""
    by_class: dict[str, list[Sample]] = defaultdict(list)
    for s in samples:
        by_class[s.label or ""].append(s)
    targets = [sp for sp in ("test", "val") if fractions.get(sp, 0) > 0]
    for name in sorted(by_class):
        members = sorted(by_class[name], key=lambda s: _rank(seed, s.path, base))
        n = len(members)
        for s in members:
            s.split = "train"
        if not targets:
            continue
        if n < 1 + len(targets):
            words = [SPLIT_WORDS[sp] for sp in ["train", *reversed(targets)]]
            parts = ", ".join(words[:-1]) + " and " + words[-1]
            whom = "it is" if n == 1 else "all of them are"
            warnings.append(
                f"Class '{name}' has only {n} image{'s' if n != 1 else ''}, too few to split into {parts} "
                f"sets; {whom} used for training."
            )
            continue
        counts = {sp: max(1, round(n * fractions[sp])) for sp in targets}
        while sum(counts.values()) > n - 1:  # training keeps at least one picture
            largest = max(counts, key=lambda sp: counts[sp])
            counts[largest] -= 1
        start = 0
        for sp in targets:
            for s in members[start : start + counts[sp]]:
                s.split = sp
            start += counts[sp]


def _absent_classes(given: list[Sample]) -> list[str]:
    """Warnings for classes that a given validation or test folder lacks."""
    classes: dict[str, set[str]] = defaultdict(set)
    for s in given:
        if s.split is not None and s.label is not None:
            classes[s.split].add(s.label)
    out = []
    for sp in ("val", "test"):
        if sp in classes:
            for name in sorted(classes["train"] - classes[sp]):
                out.append(
                    f"The {SPLIT_WORDS[sp]} folder has no pictures of class '{name}', so that class is not "
                    f"measured there."
                )
    return out
