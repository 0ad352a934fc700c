"""decode_image: the app's preprocessing of one picture file into a uint8 array.

The decode cache, the predictor and every export use this one function, so a picture gives the same
numbers in training, in the app's predictions and in an exported model.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageOps

from cnnstudio.core.dataset.probe import SWAPPING_ORIENTATIONS, open_image, orientation

FITS = ("stretch", "crop", "pad")
RESAMPLE = Image.Resampling.BILINEAR
# Pillow first shrinks by a whole factor with a box filter while the picture is over 3x the target,
# then resamples the rest: much faster on big photos, and indistinguishable from a full filter.
REDUCING_GAP = 3.0
# JPEGs are decoded at a reduced scale (1/2, 1/4, 1/8) as long as the decoded picture stays at least
# this many times the size it is resized to.
DRAFT_MARGIN = 2
WHITE = (255, 255, 255, 255)
SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N"})


def decode_image(path: str | bytes, height: int, width: int, channels: int, fit: str) -> np.ndarray:
    """The picture at `path` (or a file's contents, as bytes) as uint8 (channels, height, width);
    ImageProblem when it cannot be used.

    Steps, all deterministic (same file, same numbers, on every machine with the same Pillow):

    1. Large JPEGs are decoded at a reduced scale (libjpeg's DCT scaling, 1/2, 1/4 or 1/8) chosen so
       the decoded picture stays at least twice the size it will be resized to (DRAFT_MARGIN); a
       one-channel model reads the JPEG's own grey channel. This makes big photos several times faster.
    2. EXIF orientation is applied (a phone photo taken upright comes out upright).
    3. Colours become "L" (channels=1) or "RGB" (channels=3): transparent pictures are laid on white;
       16-bit pictures keep their top 8 bits (value / 257, rounded); float pictures in 0..1 are
       scaled by 255, others clipped to 0..255; CMYK uses Pillow's plain conversion (no ICC profile).
    4. Resizing, with Pillow's BILINEAR filter (its support widens when shrinking, so it averages
       like an area filter rather than skipping pixels) and reducing_gap=3:
       - "stretch": to height x width, whatever the proportions;
       - "crop": scaled so the short side fits, then the centre is cut out;
       - "pad": scaled to fit inside, centred on black.
    """
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, not {channels}")
    if fit not in FITS:
        raise ValueError(f"fit must be one of {', '.join(FITS)}, not {fit!r}")
    if height < 1 or width < 1:
        raise ValueError(f"size must be at least 1 x 1, not {height} x {width}")

    def draft(image: Image.Image) -> None:
        if image.format not in ("JPEG", "MPO"):
            return
        shown_w, shown_h = image.size
        turned = orientation(image) in SWAPPING_ORIENTATIONS
        if turned:
            shown_w, shown_h = shown_h, shown_w
        target_w, target_h = _scaled_size(shown_w, shown_h, height, width, fit)
        if turned:
            target_w, target_h = target_h, target_w
        image.draft("L" if channels == 1 else "RGB", (target_w * DRAFT_MARGIN, target_h * DRAFT_MARGIN))

    with open_image(path, before_load=draft) as image:
        oriented = _apply_orientation(image)
        converted = to_channels(oriented, channels)
        fitted = fit_image(converted, height, width, fit)
        array = np.asarray(fitted, dtype=np.uint8)
    if array.ndim == 2:
        return np.ascontiguousarray(array[None, :, :])
    return np.ascontiguousarray(array.transpose(2, 0, 1))


def _scaled_size(w: int, h: int, height: int, width: int, fit: str) -> tuple[int, int]:
    """Size the whole picture is scaled to before cropping or padding (at least 1 x 1)."""
    if fit == "stretch":
        return width, height
    scale = max(width / w, height / h) if fit == "crop" else min(width / w, height / h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def _apply_orientation(image: Image.Image) -> Image.Image:
    if orientation(image) == 1:
        return image  # most pictures: no copy
    try:
        return ImageOps.exif_transpose(image)
    except Exception:
        return image  # a broken EXIF block: show the picture as stored, as most viewers do


def to_channels(image: Image.Image, channels: int) -> Image.Image:
    """The picture in mode "L" (channels=1) or "RGB" (channels=3); see decode_image for the rules."""
    mode = image.mode
    if mode in SIXTEEN_BIT_MODES or mode in ("I", "F"):
        image = Image.fromarray(_to_8bit(np.asarray(image), mode))
    elif mode in ("RGBA", "RGBa", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, WHITE), rgba).convert("RGB")
    target = "L" if channels == 1 else "RGB"
    if target == "L" and image.mode not in ("1", "L", "P", "RGB"):
        image = image.convert("RGB")  # Pillow has no direct CMYK, LAB or HSV to grey conversion
    return image if image.mode == target else image.convert(target)


def _to_8bit(array: np.ndarray, mode: str) -> np.ndarray:
    if mode == "F":
        values = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        if values.size and values.max() <= 1.0:
            values = values * 255.0
        return np.clip(np.rint(values), 0, 255).astype(np.uint8)
    # 16-bit (and 32-bit "I", which Pillow also uses for 16-bit files): the top 8 bits, rounded.
    values = np.clip(array.astype(np.int64), 0, 65535)
    return ((values + 128) // 257).astype(np.uint8)


def fit_image(image: Image.Image, height: int, width: int, fit: str) -> Image.Image:
    """Resize by fit mode ("stretch", "crop", "pad"); see decode_image."""
    w, h = image.size
    if fit == "stretch":
        if (w, h) == (width, height):
            return image
        return image.resize((width, height), RESAMPLE, reducing_gap=REDUCING_GAP)
    if fit == "crop":
        scale = max(width / w, height / h)
        box_w, box_h = width / scale, height / scale  # the part of the picture that is kept
        left, top = (w - box_w) / 2, (h - box_h) / 2
        box = (left, top, left + box_w, top + box_h)
        return image.resize((width, height), RESAMPLE, box=box, reducing_gap=REDUCING_GAP)
    new_w, new_h = _scaled_size(w, h, height, width, "pad")
    new_w, new_h = min(new_w, width), min(new_h, height)
    inner = (
        image
        if (new_w, new_h) == (w, h)
        else image.resize((new_w, new_h), RESAMPLE, reducing_gap=REDUCING_GAP)
    )
    canvas = Image.new(image.mode, (width, height), 0)
    canvas.paste(inner, ((width - new_w) // 2, (height - new_h) // 2))
    return canvas
