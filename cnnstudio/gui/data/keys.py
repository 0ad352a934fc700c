"""Which number key labels a picture with which class (Qt-free).

Classes named by single digits ("0" ... "9", as in the digits demo): the key is the class's name, so
pressing 5 gives "5". Otherwise keys 1-9 give the first nine classes in the list, and 0 removes the
label. The class list shows each class's key on its badge.
"""

from __future__ import annotations

from collections.abc import Sequence


def digit_names(classes: Sequence[str]) -> bool:
    """Every class is named by one digit (then the keys are the names)."""
    return bool(classes) and all(len(c) == 1 and c.isdigit() for c in classes)


def class_keys(classes: Sequence[str]) -> dict[int, str]:
    """{number key: class name}."""
    if digit_names(classes):
        return {int(c): c for c in classes}
    return {i + 1: c for i, c in enumerate(classes[:9])}


def key_of(classes: Sequence[str], name: str) -> int | None:
    return next((k for k, c in class_keys(classes).items() if c == name), None)


def unlabel_key(classes: Sequence[str]) -> int | None:
    """The key that removes a label: 0, unless 0 is a class's name."""
    return None if 0 in class_keys(classes) and digit_names(classes) else 0


def keys_text(classes: Sequence[str]) -> str:
    """The keys that label, as a person reads them: "0–9" for the digits demo, "1–3" for 3 classes."""
    keys = sorted(class_keys(classes))
    if not keys:
        return "1–9"
    return f"{keys[0]}–{keys[-1]}" if len(keys) > 1 else str(keys[0])
