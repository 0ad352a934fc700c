"""Open one picture file safely: fully decoded, or an ImageProblem that says why not in plain words.

Used by the check (every file decoded once to find problems) and by decode_image (the cache, the
predictor, exports), so both agree on which files are usable. Imports Pillow only (no numpy), so
worker processes of the check start quickly.
"""

from __future__ import annotations

import io
import os
import signal
import warnings
from collections.abc import Callable

from PIL import Image, ImageFile, UnidentifiedImageError

from cnnstudio.core.dataset.problems import (
    CORRUPT_REASON,
    CUT_OFF_REASON,
    EMPTY_REASON,
    MISSING,
    NOT_IMAGE_REASON,
    TOO_LARGE,
    UNREADABLE,
    UNSUPPORTED,
    ImageProblem,
)

# Pillow's default, set explicitly because it decides whether a cut-off file is found: with True, a
# truncated JPEG would load with a grey bottom and count as a good picture.
ImageFile.LOAD_TRUNCATED_IMAGES = False

# Colour modes decode_image can turn into "L" or "RGB"; any other mode is an unsupported kind.
SUPPORTED_MODES = frozenset(
    {"1", "L", "P", "RGB", "RGBA", "RGBX", "RGBa", "CMYK", "YCbCr", "LAB", "HSV", "LA", "PA"}
    | {"I", "I;16", "I;16L", "I;16B", "I;16N", "F"}
)

WHOLE_READ_LIMIT = 64 * 1024 * 1024  # bytes
IN_MEMORY = "the picture"  # how problems name a picture given as bytes, not as a file
ORIENTATION_TAG = 0x0112
SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})  # EXIF orientations that turn the picture a quarter


def open_image(path: str | bytes, before_load: Callable[[Image.Image], None] | None = None) -> Image.Image:
    """The picture at `path`, decoded (Image.load() done), or ImageProblem.

    Image.open only reads the header, so a cut-off JPEG or a PNG with a bad checksum opens fine and
    fails only when decoded: that is why the whole file is decoded here. `before_load(image)` runs
    between the two (decode_image uses it for JPEG draft mode). `path` may also be the file's
    contents (bytes, as the prediction service receives them); problems then name it "the picture".
    """
    if isinstance(path, bytes | bytearray | memoryview):
        data = bytes(path)
        if not data:
            raise ImageProblem(IN_MEMORY, EMPTY_REASON)
        return _open_decoded(io.BytesIO(data), IN_MEMORY, before_load)
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            # Small files in one read: fewer system calls than Pillow's buffered reads. A huge file is
            # left to Pillow, so that its size is checked before its data is read.
            source: io.BytesIO | str = io.BytesIO(f.read()) if size <= WHOLE_READ_LIMIT else path
    except FileNotFoundError as exc:
        raise ImageProblem(path, f"{MISSING} (it was moved or deleted, or is a broken link)") from exc
    except PermissionError as exc:
        raise ImageProblem(path, f"{UNREADABLE} (no permission to open it)") from exc
    except OSError as exc:
        raise ImageProblem(path, f"{UNREADABLE} ({exc.strerror or exc})") from exc
    if size == 0:
        raise ImageProblem(path, EMPTY_REASON)
    return _open_decoded(source, path, before_load)


def _open_decoded(
    source: io.BytesIO | str, path: str, before_load: Callable[[Image.Image], None] | None
) -> Image.Image:
    try:
        image = Image.open(source)
    except UnidentifiedImageError as exc:
        raise ImageProblem(path, NOT_IMAGE_REASON) from exc
    except Exception as exc:  # Pillow's format readers raise many kinds of errors on damaged headers
        raise ImageProblem(path, _reason(exc, "")) from exc

    try:
        limit = Image.MAX_IMAGE_PIXELS
        width, height = image.size
        if limit is not None and width * height > limit:
            # Pillow only warns up to twice the limit; a warning must not slip through as usable.
            raise ImageProblem(
                path, f"{TOO_LARGE} ({width} x {height} pixels; the limit is {int(limit):,} pixels)"
            )
        if image.mode not in SUPPORTED_MODES:
            raise ImageProblem(path, f"{UNSUPPORTED} (its colour format, {image.mode}, cannot be read)")
        if before_load is not None:
            before_load(image)
        try:
            image.load()
        except Exception as exc:
            raise ImageProblem(path, _reason(exc, image.format or "")) from exc
    except BaseException:
        image.close()  # a huge file is opened by path: release it now, not when garbage is collected
        raise
    return image


def _reason(exc: Exception, kind: str) -> str:
    """A plain reason for an error Pillow raised while opening or decoding."""
    if isinstance(exc, Image.DecompressionBombError | Image.DecompressionBombWarning):
        return f"{TOO_LARGE} (it has more pixels than the safety limit)"
    message = str(exc).lower()
    if "truncated" in message or isinstance(exc, EOFError):
        return CUT_OFF_REASON
    if any(
        words in message for words in ("not available", "unsupported", "not supported", "unknown pixel mode")
    ):
        return f"{UNSUPPORTED} (this kind of {kind + ' ' if kind else ''}file cannot be read)"
    return CORRUPT_REASON


def orientation(image: Image.Image) -> int:
    """The EXIF orientation (1 = upright); a broken EXIF block counts as upright."""
    try:
        return int(image.getexif().get(ORIENTATION_TAG, 1) or 1)
    except Exception:
        return 1


def probe_file(path: str) -> tuple[str | None, int, int]:
    """(problem or None, width, height as shown) for one file; sizes are 0 when there is a problem."""
    try:
        image = open_image(path)
    except ImageProblem as exc:
        return exc.reason, 0, 0
    with image:
        width, height = image.size
        if orientation(image) in SWAPPING_ORIENTATIONS:
            width, height = height, width
    return None, width, height


def probe_files(paths: list[str]) -> list[tuple[str | None, int, int]]:
    """probe_file for a batch: the unit of work of the check's worker threads and processes."""
    return [probe_file(p) for p in paths]


def init_worker(max_image_pixels: int | None) -> None:
    """Initialiser of check worker processes: the parent's size limit (a spawned process starts with
    Pillow's default); no printed "too large" warning, since it is reported as a problem; and Ctrl+C
    left to the parent, which stops the pool cleanly instead of every worker printing a traceback."""
    Image.MAX_IMAGE_PIXELS = max_image_pixels
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
