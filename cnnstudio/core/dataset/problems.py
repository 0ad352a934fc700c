"""Why a file cannot be used, in words a person who does not program can act on.

Each problem starts with one of the fixed phrases below (tests and the GUI group by them); a short
explanation may follow in brackets.
"""

from __future__ import annotations

from cnnstudio.core.errors import UserError

EMPTY = "empty file"
NOT_IMAGE = "not an image"
DAMAGED = "damaged or cut-off image"
TOO_LARGE = "image too large to open safely"
UNSUPPORTED = "unsupported kind of file"
UNREADABLE = "cannot be read"
MISSING = "file not found"

PROBLEM_KINDS: tuple[str, ...] = (EMPTY, NOT_IMAGE, DAMAGED, TOO_LARGE, UNSUPPORTED, UNREADABLE, MISSING)

# Ready-made reasons used in more than one place.
EMPTY_REASON = f"{EMPTY} (0 bytes)"
NOT_IMAGE_REASON = f"{NOT_IMAGE} (the contents are not a picture, whatever the name says)"
CUT_OFF_REASON = f"{DAMAGED} (the file ends too early; it may not have finished downloading or copying)"
CORRUPT_REASON = f"{DAMAGED} (the picture data is corrupted)"


def unexpected_decode_reason(exc: BaseException) -> str:
    """The reason for a decoding error none of the checks foresaw, keeping what the decoder said."""
    said = str(exc).strip() or type(exc).__name__
    if isinstance(exc, OSError) and not isinstance(exc, (EOFError,)) and exc.errno is not None:
        return f"{UNREADABLE} ({said})"
    return f"{DAMAGED} (the decoder said: {said})"


def problem_kind(reason: str) -> str:
    """The fixed phrase a reason starts with (the reason itself when it matches none)."""
    for kind in PROBLEM_KINDS:
        if reason.startswith(kind):
            return kind
    return reason


def unsupported_extension_reason(ext: str) -> str:
    kind = ext.lstrip(".").upper() or "without an extension"
    return f"{UNSUPPORTED} ({kind} files cannot be read; save it as JPEG or PNG)"


class ImageProblem(UserError):
    """A file that cannot be used as a picture; `reason` is one of the plain-word reasons above."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
