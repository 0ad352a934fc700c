"""Predict pictures with a CNN Studio ONNX export, using only onnxruntime, Pillow and numpy.

    pip install onnxruntime pillow numpy
    python predict_example.py photo.jpg more/*.png          # a table
    python predict_example.py --json photo.jpg              # JSON, like `cnnstudio predict --json`
    python predict_example.py --model other.onnx photo.jpg

Everything the script needs is inside the model file: its metadata "cnnstudio.preprocessing" says
how a picture becomes the model's input, "cnnstudio.classes" names the output columns, and the
model's output is class probabilities. The steps below are CNN Studio's own (its decode_image), so
the model predicts here exactly what it predicted in the app. The probabilities are already
calibrated (the "cnnstudio.temperature" is applied inside the model). When "cnnstudio.unknown" is
set, the model has a second output, unknown_score: a picture whose score is above that threshold is
unlike the training pictures, and is reported with "unknown": true (its best class stays "label"):

1. JPEGs are decoded at a reduced scale (1/2, 1/4 or 1/8) while they stay at least twice the size
   they will be resized to; 2. the EXIF orientation is applied; 3. colours become RGB or grey L
   (transparency laid on white, 16-bit pictures keep their top 8 bits); 4. the picture is resized
   with Pillow's BILINEAR filter (reducing_gap=3): "stretch" to the size, "crop" to fill it and cut
   the centre, or "pad" to fit inside on black; 5. x * scale, minus mean, divided by std, per
   channel, as float32 (N, C, H, W).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image, ImageOps

MODEL_FILE = "model.onnx"  # the ONNX file next to this script

RESAMPLE = Image.Resampling.BILINEAR
REDUCING_GAP = 3.0
DRAFT_MARGIN = 2
WHITE = (255, 255, 255, 255)
SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}
SWAPPING_ORIENTATIONS = {5, 6, 7, 8}  # EXIF orientations that turn the picture a quarter
BATCH = 32


def orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(0x0112, 1) or 1)
    except Exception:
        return 1


def scaled_size(w: int, h: int, height: int, width: int, fit: str) -> tuple[int, int]:
    if fit == "stretch":
        return width, height
    scale = max(width / w, height / h) if fit == "crop" else min(width / w, height / h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def to_8bit(array: np.ndarray, mode: str) -> np.ndarray:
    if mode == "F":
        values = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=255.0, neginf=0.0)
        if values.size and values.max() <= 1.0:
            values = values * 255.0
        return np.clip(np.rint(values), 0, 255).astype(np.uint8)
    values = np.clip(array.astype(np.int64), 0, 65535)
    return ((values + 128) // 257).astype(np.uint8)


def to_channels(image: Image.Image, channels: int) -> Image.Image:
    mode = image.mode
    if mode in SIXTEEN_BIT_MODES or mode in ("I", "F"):
        image = Image.fromarray(to_8bit(np.asarray(image), mode))
    elif mode in ("RGBA", "RGBa", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, WHITE), rgba).convert("RGB")
    target = "L" if channels == 1 else "RGB"
    if target == "L" and image.mode not in ("1", "L", "P", "RGB"):
        image = image.convert("RGB")
    return image if image.mode == target else image.convert(target)


def fit_image(image: Image.Image, height: int, width: int, fit: str) -> Image.Image:
    w, h = image.size
    if fit == "stretch":
        if (w, h) == (width, height):
            return image
        return image.resize((width, height), RESAMPLE, reducing_gap=REDUCING_GAP)
    if fit == "crop":
        scale = max(width / w, height / h)
        box_w, box_h = width / scale, height / scale
        left, top = (w - box_w) / 2, (h - box_h) / 2
        box = (left, top, left + box_w, top + box_h)
        return image.resize((width, height), RESAMPLE, box=box, reducing_gap=REDUCING_GAP)
    new_w, new_h = scaled_size(w, h, height, width, "pad")
    new_w, new_h = min(new_w, width), min(new_h, height)
    inner = (
        image
        if (new_w, new_h) == (w, h)
        else image.resize((new_w, new_h), RESAMPLE, reducing_gap=REDUCING_GAP)
    )
    canvas = Image.new(image.mode, (width, height), 0)
    canvas.paste(inner, ((width - new_w) // 2, (height - new_h) // 2))
    return canvas


def load_picture(path: str, prep: dict) -> np.ndarray:
    """The picture as uint8 (C, H, W), prepared as the model's metadata says."""
    height, width, fit = int(prep["height"]), int(prep["width"]), prep["fit"]
    channels = 1 if prep["channels"] == "L" else 3
    with open(path, "rb") as f:
        data = f.read()
    with Image.open(io.BytesIO(data)) as image:
        if image.format in ("JPEG", "MPO"):
            shown_w, shown_h = image.size
            turned = orientation(image) in SWAPPING_ORIENTATIONS
            if turned:
                shown_w, shown_h = shown_h, shown_w
            target_w, target_h = scaled_size(shown_w, shown_h, height, width, fit)
            if turned:
                target_w, target_h = target_h, target_w
            image.draft("L" if channels == 1 else "RGB", (target_w * DRAFT_MARGIN, target_h * DRAFT_MARGIN))
        image.load()
        oriented = image
        if orientation(image) != 1:
            try:
                oriented = ImageOps.exif_transpose(image)
            except Exception:
                pass  # a broken EXIF block: use the picture as stored
        fitted = fit_image(to_channels(oriented, channels), height, width, fit)
        array = np.asarray(fitted, dtype=np.uint8)
    return array[None, :, :] if array.ndim == 2 else array.transpose(2, 0, 1)


def model_input(pictures: np.ndarray, prep: dict) -> np.ndarray:
    """uint8 (N, C, H, W) -> float32 model input: x * scale, minus mean, divided by std."""
    x = pictures.astype(np.float32) * np.float32(prep["scale"])
    mean = np.asarray(prep["mean"], dtype=np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(prep["std"], dtype=np.float32).reshape(1, -1, 1, 1)
    return (x - mean) / std


def verdict(p: np.ndarray, classes: list[str], score, threshold) -> dict:
    """Label, confidence, top 3 and the unknown flag of one picture: CNN Studio's own rule (its
    core.trust.verdict; a test keeps the two equal). The label is the best class even when the
    picture is flagged unknown."""
    order = np.argsort(-p, kind="stable")[:3]  # ties: the earlier class first
    top = [[classes[i], float(p[i])] for i in order]
    unknown = None if score is None or threshold is None else bool(score > threshold)
    return {
        "label": top[0][0],
        "confidence": top[0][1],
        "top": top,
        "unknown": unknown,
        "unknown_score": None if score is None else float(score),
    }


def predict(model_path: str, paths: list[str]) -> list[dict]:
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    prep = json.loads(meta["cnnstudio.preprocessing"])
    classes = json.loads(meta["cnnstudio.classes"])
    unknown = json.loads(meta.get("cnnstudio.unknown", "null"))  # None: no unknown score
    input_name = session.get_inputs()[0].name
    readable, pictures = [], []
    for path in paths:
        try:
            pictures.append(load_picture(path, prep))
            readable.append(path)
        except Exception as exc:
            print(f"skipped {path}: {exc}", file=sys.stderr)
    results = []
    for start in range(0, len(pictures), BATCH):
        batch = model_input(np.stack(pictures[start : start + BATCH]), prep)
        outputs = session.run(None, {input_name: batch})
        probabilities = outputs[0]
        scores = outputs[1] if unknown else [None] * len(probabilities)
        threshold = unknown["threshold"] if unknown else None
        for path, p, score in zip(readable[start : start + BATCH], probabilities, scores, strict=True):
            results.append({"path": path, **verdict(p, classes, score, threshold)})
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description="Predict pictures with a CNN Studio ONNX model.")
    parser.add_argument("pictures", nargs="+")
    parser.add_argument("--model", default=str(Path(__file__).with_name(MODEL_FILE)))
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args()
    results = predict(args.model, args.pictures)
    if args.json:
        print(json.dumps({"predictions": results}, indent=2))
    else:
        for r in results:
            top = ", ".join(f"{label} {p:.1%}" for label, p in r["top"])
            mark = "\tUNKNOWN (unlike the training pictures)" if r["unknown"] else ""
            print(f"{r['path']}\t{r['label']}\t{r['confidence']:.1%}\t{top}{mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
