"""Stratified, seeded train/validation/test split.

Each class is split on its own, in the same proportions. Within a class, pictures are ordered by a
hash of (seed, path relative to the source), which makes the split independent of the order files
were listed in, the same on every machine (even after the dataset folder moves), and stable when a
few pictures are added: most pictures keep their split.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import defaultdict
from collections.abc import Sequence

from cnnstudio.core.dataset.index import DatasetIndex, Sample
from cnnstudio.core.dataset.scan import folder_split
from cnnstudio.core.errors import UserError

SPLIT_WORDS = {"train": "training", "val": "validation", "test": "test"}


def assign_splits(
    index: DatasetIndex, ratios: Sequence[float] = (0.7, 0.15, 0.15), seed: int = 0
) -> list[str]:
    """Set `split` on every usable, labelled sample; return warnings in plain words.

    `ratios` (training, validation, test) may be fractions or percentages; they are scaled to sum to 1.
    Splits given by the folders (train/ val/ test/) are kept; a split the folders do not give is
    carved out of the training folder, class by class, so that it gets its share of the ratios
    (with train/ and test/ only, validation gets 0.15 / 0.85 of the training pictures by default).
    A class with too few pictures to give every split one (fewer than 3 for three splits) goes
    entirely to training, with a warning. Unusable samples get no split; unlabelled ones keep the
    split of their folder, if any.
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
        if s.problem is None and s.label is not None:
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
