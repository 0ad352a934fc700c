"""A three-way merge of project.json: what this process changed since it last read the file, applied
onto what is on disk now (another process's changes), with the conflicts named (see lock.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# Keys merged entry by entry (a label edit, a split assignment); the others are merged one level deep
# (spec, train_config: two processes changing different settings both keep theirs) or as a whole.
ENTRY_KEYS = {("labels",), ("split", "assignments"), ("accepted_suggestions",)}  # last: w16
DEEP_KEYS = {("spec",), ("train_config",), ("split",)}
SET_KEYS = {("excluded",), ("extra_classes",)}
_MISSING = object()


@dataclass
class Merge:
    """The outcome of bringing another process's changes into ours."""

    data: dict[str, Any]
    theirs: list[str] = field(default_factory=list)  # what the other process changed, in words
    conflicts: list[tuple[str, Any, Any]] = field(default_factory=list)  # (picture, my label, theirs)
    # Pictures of `conflicts` whose label edit the other process (theirs) or this one (mine) removed:
    # that side's label is the one the picture's folder gives, not "unlabelled" (Project.reload fills
    # it in; the merge knows only label edits).
    theirs_removed: set[str] = field(default_factory=set)
    mine_removed: set[str] = field(default_factory=set)

    @property
    def changed(self) -> bool:
        return bool(self.theirs)


def normalized(data: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(data))


def merge(base: dict[str, Any], mine: dict[str, Any], disk: dict[str, Any]) -> Merge:
    """Apply what changed from `base` to `mine` onto `disk` (the other processes' latest state)."""
    out = Merge(data=_merge(base, mine, disk, ()))
    out.theirs = _describe(base, disk)
    base_labels, mine_labels, disk_labels = (d.get("labels") or {} for d in (base, mine, disk))
    for k in set(mine_labels) | set(base_labels):
        a = mine_labels.get(k, _MISSING)
        b = base_labels.get(k, _MISSING)
        c = disk_labels.get(k, _MISSING)
        if a != b and c != b and a != c:
            out.conflicts.append((k, None if a is _MISSING else a, None if c is _MISSING else c))
            if c is _MISSING:
                out.theirs_removed.add(k)
            if a is _MISSING:
                out.mine_removed.add(k)
    out.conflicts.sort(key=lambda c: c[0])
    return out


def _merge(base: Any, mine: Any, disk: Any, path: tuple[str, ...]) -> Any:
    if not isinstance(mine, dict) or not isinstance(disk, dict):
        return mine if mine != base else disk
    base = base if isinstance(base, dict) else {}
    out = dict(disk)
    for k in set(mine) | set(base):
        here = (*path, k)
        a, b = mine.get(k, _MISSING), base.get(k, _MISSING)
        if here in ENTRY_KEYS and isinstance(a, dict):
            out[k] = _merge_entries(b if isinstance(b, dict) else {}, a, disk.get(k) or {})
        elif here in SET_KEYS and isinstance(a, list):
            out[k] = _merge_set(b if isinstance(b, list) else [], a, disk.get(k) or [])
        elif here in DEEP_KEYS and isinstance(a, dict) and isinstance(disk.get(k), dict):
            out[k] = _merge(b, a, disk[k], here)
        elif a != b:
            if a is _MISSING:
                out.pop(k, None)
            else:
                out[k] = a
    return out


def _merge_entries(base: dict, mine: dict, disk: dict) -> dict:
    out = dict(disk)
    for k in set(mine) | set(base):
        a = mine.get(k, _MISSING)
        if a != base.get(k, _MISSING):
            if a is _MISSING:
                out.pop(k, None)
            else:
                out[k] = a
    return dict(sorted(out.items()))


def _merge_set(base: list, mine: list, disk: list) -> list:
    added = [x for x in mine if x not in base]
    removed = {json.dumps(x) for x in base if x not in mine}
    out = [x for x in disk if json.dumps(x) not in removed]
    out += [x for x in added if x not in out]
    return out


def _describe(base: dict[str, Any], disk: dict[str, Any]) -> list[str]:
    """What changed on disk since `base`, in words."""
    words = []
    b, d = base.get("labels") or {}, disk.get("labels") or {}
    n = sum(1 for k in set(b) | set(d) if b.get(k, _MISSING) != d.get(k, _MISSING))
    if n:
        words.append(f"{n} label change{'s' if n != 1 else ''}")
    if (base.get("excluded") or []) != (disk.get("excluded") or []):
        words.append("the pictures left out")
    if (base.get("extra_classes") or []) != (disk.get("extra_classes") or []):
        words.append("the classes")
    if (base.get("split") or {}) != (disk.get("split") or {}):
        words.append("the split")
    if base.get("spec") != disk.get("spec"):
        words.append("the model design")
    if base.get("train_config") != disk.get("train_config"):
        words.append("the training settings")
    if base.get("source") != disk.get("source"):
        words.append("the image folder")
    if base.get("name") != disk.get("name"):
        words.append("the name")
    return words
