"""A smaller, faster ONNX model: int8 static quantisation, checked against the app before it is kept.

The float ONNX export (onnx_export.py) is written first, then quantised with onnxruntime's own
tools in the form onnxruntime recommends for CNNs on CPU: QDQ (QuantizeLinear/DequantizeLinear
pairs around each quantised operator), signed int8 activations and weights, weights per output
channel, activation ranges calibrated (MinMax) on up to CALIBRATION_IMAGES of the project's
training pictures, prepared exactly as the float export's input (from its own metadata).

Only the network is quantised. What the exporter adds after it (the temperature, the softmax, the
unknown score and whatever that score is computed with) stays float: `network_nodes` walks back
from the probabilities output over those calibration operators (TAIL_OPS) to the network's last
node (its head: the last Gemm or MatMul of the network, or a Conv), and keeps the head and all its
ancestors; every other node is excluded from quantisation. This is found from the graph alone, so
it holds for any score the exporter computes beside the probabilities. The head's output is not
quantised either, so the logits reach the softmax in float; nor is the first layer, which reads the
picture (`first_nodes`).

The int8 file is then checked like every export (verify.py), but it cannot match to 1e-4: it is
run on the validation pictures against the app's own predictions, and kept only when it gives the
app's class for at least MIN_SAME_CLASS of them (else nothing is kept, unless forced). The check
reports the share with the same class, the largest confidence difference, the unknown flags that
differ, and the file size and images per second of the float and int8 files on this computer.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnstudio.core.errors import UserError
from cnnstudio.core.export.outputs import joined, normalize_numpy

if TYPE_CHECKING:
    from cnnstudio.core.export.loaded import LoadedModel
    from cnnstudio.core.trust import Calibration

CALIBRATION_IMAGES = 300  # at most this many training pictures (evenly spread) calibrate the ranges
CALIBRATION_BATCH = 32
RUN_BATCH = 32  # as predict_example.py runs the file
TIMED_SECONDS, TIMED_PASSES = 0.5, 50  # images per second are timed over at least this long
MIN_SAME_CLASS = 0.99  # the int8 file is kept when it gives the app's class for this share or more
QUANTIZATION_KEY = "cnnstudio.quantization"
QUANTIZATION_TEXT = "int8 (onnxruntime static quantisation, QDQ, signed int8, weights per channel)"
# Operators the exporter puts between the network's logits and the probabilities output.
TAIL_OPS = frozenset({"Softmax", "LogSoftmax", "Div", "Mul", "Cast", "Identity"})
HEAD_OPS = frozenset({"Gemm", "MatMul"})


def network_nodes(graph) -> tuple[Any, set[str]]:
    """(the network's head node, the names of the head and all its ancestors) of an ONNX graph.

    The head is found by walking back from the first output (the probabilities) over TAIL_OPS;
    nodes must have names (see `_name_nodes`)."""
    producer = {name: node for node in graph.node for name in node.output}
    node = producer.get(graph.output[0].name)
    while node is not None and node.op_type in TAIL_OPS:
        node = producer.get(node.input[0])
    if node is None:
        raise UserError("This ONNX model has no network before its probabilities; it cannot be made int8.")
    head, kept, stack = node, set(), [node]
    while stack:
        current = stack.pop()
        if current.name in kept:
            continue
        kept.add(current.name)
        stack.extend(producer[name] for name in current.input if name in producer)
    return head, kept


def tail_nodes(graph) -> list[str]:
    """Names of the nodes that stay float: all but the network (see the module docstring)."""
    _head, kept = network_nodes(graph)
    return [node.name for node in graph.node if node.name not in kept]


def first_nodes(graph) -> list[str]:
    """Names of the nodes that read the picture itself (the network's first layer): they stay
    float, so the picture is never rounded to int8 with one scale for all its channels. In
    benchmarks/bench_int8.py this took the Seed CNN from 98% to 100% agreement with the float
    file, for little speed (a first layer has only the picture's 1 or 3 channels in)."""
    inputs = {i.name for i in graph.input} - {t.name for t in graph.initializer}
    return [node.name for node in graph.node if set(node.input) & inputs]


def _name_nodes(model) -> None:
    """Give every unnamed node a unique name: quantize_static excludes nodes by name."""
    used = {node.name for node in model.graph.node if node.name}
    for i, node in enumerate(model.graph.node):
        if not node.name:
            name = f"cnnstudio_{node.op_type}_{i}"
            while name in used:
                name += "_"
            node.name = name
            used.add(name)


def _names(model) -> set[str]:
    """Every node and tensor name of `model`."""
    graph = model.graph
    names = {n.name for n in graph.node} | {t.name for t in graph.initializer}
    names |= {name for n in graph.node for name in (*n.input, *n.output)}
    return names | {v.name for v in (*graph.input, *graph.output, *graph.value_info)}


def _shorten_added_names(model, before: set[str]) -> None:
    """Short names ("q17") for the nodes and tensors the quantiser added. It names them after what
    they quantise ("model.layers.0.net.features.10.block.2.fc1.weight_DequantizeLinear_Output"),
    which for MobileNetV3 Small was about a tenth of the int8 file. The network's own names stay."""
    graph = model.graph
    short: dict[str, str] = {}

    def rename(name: str) -> str:
        if not name or name in before:
            return name
        if name not in short:
            candidate = f"q{len(short)}"
            while candidate in before:
                candidate += "_"
            short[name] = candidate
        return short[name]

    for tensor in graph.initializer:
        tensor.name = rename(tensor.name)
    for info in graph.value_info:
        info.name = rename(info.name)
    for node in graph.node:
        node.name = rename(node.name)
        node.input[:] = [rename(name) for name in node.input]
        node.output[:] = [rename(name) for name in node.output]


class PictureReader:
    """onnxruntime's CalibrationDataReader over uint8 pictures, normalised as the model's metadata says."""

    def __init__(self, pictures: np.ndarray, prep, input_name: str, batch: int = CALIBRATION_BATCH) -> None:
        self.pictures, self.prep, self.input_name, self.batch = pictures, prep, input_name, batch
        self.start = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        # Batches of one size: the histogram calibrators stack them. A short last one is left out,
        # unless it is all there is.
        if self.start >= len(self.pictures) or (self.start and self.start + self.batch > len(self.pictures)):
            return None
        chunk = self.pictures[self.start : self.start + self.batch]
        self.start += self.batch
        return {self.input_name: normalize_numpy(chunk, self.prep)}

    def rewind(self) -> None:
        self.start = 0


@contextmanager
def _quiet_quantizer():
    """onnxruntime's quantiser logs warnings through the root logger (per-channel axes of 1-D
    BatchNormalization weights, for one); they say nothing a user of the app can act on."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def quantize_onnx(float_path: Path | str, out: Path | str, pictures: np.ndarray) -> Path:
    """Write the int8 form of the float ONNX export at `float_path` to `out`, calibrated on
    `pictures` (uint8 (N, C, H, W), at most CALIBRATION_IMAGES of them are used)."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    from cnnstudio.core.export.metadata import PREPROCESSING_KEY
    from cnnstudio.core.spec import Preprocessing

    if not len(pictures):
        raise UserError("An int8 model needs pictures to calibrate on, and the project has none.")
    float_path, out = Path(float_path), Path(out)
    original = onnx.load(str(float_path))
    metadata = {p.key: p.value for p in original.metadata_props}
    prep = Preprocessing.from_dict(json.loads(metadata[PREPROCESSING_KEY]))
    if len(pictures) > CALIBRATION_IMAGES:  # evenly spread over the pictures, as the classes lie
        pictures = pictures[np.linspace(0, len(pictures) - 1, CALIBRATION_IMAGES).round().astype(int)]
    with tempfile.TemporaryDirectory(prefix="cnnstudio-int8-") as folder, _quiet_quantizer():
        prepared = Path(folder) / "prepared.onnx"
        try:
            # Shape inference and onnxruntime's graph optimisations (folding, fusing) first, as
            # onnxruntime's quantisation guide advises; a model it cannot take is quantised as is.
            quant_pre_process(str(float_path), str(prepared))
            model = onnx.load(str(prepared))
        except Exception:  # noqa: BLE001 - the pre-processing is an optimisation only
            model = onnx.load(str(float_path))
        _name_nodes(model)
        head, _kept = network_nodes(model.graph)
        exclude = tail_nodes(model.graph) + first_nodes(model.graph)
        onnx.save(model, str(prepared))
        before = _names(model)
        reader = PictureReader(np.asarray(pictures), prep, model.graph.input[0].name)
        try:
            quantize_static(
                str(prepared),
                str(out),
                reader,
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                per_channel=True,
                calibrate_method=CalibrationMethod.MinMax,
                nodes_to_exclude=exclude,
                extra_options={
                    # The logits go to the softmax in float: quantising them costs confidence.
                    "OpTypesToExcludeOutputQuantization": [head.op_type] if head.op_type in HEAD_OPS else [],
                },
            )
        except Exception as exc:  # noqa: BLE001 - the quantiser raises many kinds of errors
            raise UserError(
                f"This model cannot be made int8 ({type(exc).__name__}: {exc}). Export it as float ONNX instead."
            ) from exc
    quantized = onnx.load(str(out))
    _shorten_added_names(quantized, before)
    del quantized.metadata_props[:]
    for key, value in {**metadata, QUANTIZATION_KEY: QUANTIZATION_TEXT}.items():
        entry = quantized.metadata_props.add()
        entry.key, entry.value = key, value
    quantized.doc_string = (
        original.doc_string + " Quantised to int8 (QDQ); the outputs are computed in float."
    )
    onnx.save(quantized, str(out))
    return out


def run_onnx(path: Path | str, X_uint8: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, float]:
    """(probabilities, unknown scores or None, images per second) of an ONNX export on `X_uint8`,
    prepared from the file's own metadata as its users do, run RUN_BATCH at a time. The time counts
    only onnxruntime's work, after one warm-up batch; with few pictures the batches are run again,
    timed only, until TIMED_SECONDS have passed (at most TIMED_PASSES passes in all)."""
    import onnxruntime as ort

    from cnnstudio.core.export.metadata import PREPROCESSING_KEY
    from cnnstudio.core.spec import Preprocessing

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    prep = Preprocessing.from_dict(json.loads(session.get_modelmeta().custom_metadata_map[PREPROCESSING_KEY]))
    name = session.get_inputs()[0].name
    with_unknown = len(session.get_outputs()) > 1
    batches = [normalize_numpy(X_uint8[i : i + RUN_BATCH], prep) for i in range(0, len(X_uint8), RUN_BATCH)]
    if batches:
        session.run(None, {name: batches[0]})  # warm-up: the first run allocates
    probs, scores, seconds = [], [], 0.0
    for batch in batches:
        start = time.perf_counter()
        outputs = session.run(None, {name: batch})
        seconds += time.perf_counter() - start
        probs.append(outputs[0])
        if with_unknown:
            scores.append(outputs[1])
    passes = 1
    while batches and seconds < TIMED_SECONDS and passes < TIMED_PASSES:
        start = time.perf_counter()
        for batch in batches:
            session.run(None, {name: batch})
        seconds += time.perf_counter() - start
        passes += 1
    return (
        joined(probs, np.zeros((0, 0), np.float32)),
        joined(scores, np.zeros(0, np.float32)) if with_unknown else None,
        len(X_uint8) * passes / seconds if seconds > 0 else 0.0,
    )


@dataclass(frozen=True)
class Side:
    """One file's numbers against the app: the float ONNX or the int8 one."""

    same_class: int  # pictures given the app's class
    max_diff: float  # largest |confidence - the app's| over all pictures and classes
    unknown_differ: int | None  # pictures flagged unknown differently from the app; None: no score
    size: int  # bytes
    images_per_s: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "same_class": self.same_class,
            "max_confidence_diff": self.max_diff,
            "unknown_differ": self.unknown_differ,
            "bytes": self.size,
            "images_per_s": self.images_per_s,
        }


@dataclass(frozen=True)
class Int8Check:
    """The int8 file against the app, beside the float file, on the same pictures."""

    images: int
    on: str  # which pictures, in words ("validation images")
    float: Side
    int8: Side
    min_same_class: float = MIN_SAME_CLASS
    forced: bool = False  # kept although below min_same_class
    format: str = "onnx"

    @property
    def same_share(self) -> float:
        return self.int8.same_class / self.images if self.images else 1.0

    @property
    def ok(self) -> bool:
        return self.same_share >= self.min_same_class

    @property
    def size_ratio(self) -> float:
        return self.int8.size / self.float.size if self.float.size else 0.0

    @property
    def speed_ratio(self) -> float:
        return self.int8.images_per_s / self.float.images_per_s if self.float.images_per_s else 0.0

    @property
    def message(self) -> str:
        where = f"{self.images:,} {self.on}"
        same = f"the app's class for {percent_text(self.same_share)} ({self.int8.same_class:,} of {self.images:,})"
        unknown = (
            ""
            if self.int8.unknown_differ is None
            else f", a different unknown flag for {self.int8.unknown_differ:,}"
        )
        numbers = (
            f"{same}, confidences within {self.int8.max_diff * 100:.1f} percentage points{unknown}; "
            f"{self.size_ratio:.2f}x the float file's size ({size_text(self.int8.size)} against "
            f"{size_text(self.float.size)}) and {self.speed_ratio:.2f}x its speed on this computer "
            f"({self.int8.images_per_s:,.0f} against {self.float.images_per_s:,.0f} images/s)"
        )
        if self.ok:
            return f"int8 ONNX checked on {where}: {numbers}"
        needed = f"at least {percent_text(self.min_same_class)} is needed"
        if self.forced:
            return f"int8 ONNX kept as asked, though it falls short ({needed}), on {where}: {numbers}"
        return f"int8 ONNX falls short on {where} ({needed}): {numbers}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "int8": True,
            "images": self.images,
            "on": self.on,
            "same_top1": self.int8.same_class,
            "same_share": self.same_share,
            "max_abs_diff": self.int8.max_diff,
            "min_same_class": self.min_same_class,
            "ok": self.ok,
            "forced": self.forced,
            "size_ratio": self.size_ratio,
            "speed_ratio": self.speed_ratio,
            "float": self.float.to_dict(),
            "int8_file": self.int8.to_dict(),
            "message": self.message,
        }


class Int8Refused(UserError):
    """The int8 file fell short and was not kept; `check` holds its numbers (the dialog shows them)."""

    def __init__(self, message: str, check: Int8Check) -> None:
        super().__init__(message)
        self.check = check


def percent_text(share: float) -> str:
    text = f"{share * 100:.1f}"
    return f"{text.removesuffix('.0')}%"


def size_text(size: int) -> str:
    return f"{size / 1e6:.2f} MB" if size >= 1_000_000 else f"{size / 1e3:.1f} kB"


def side(
    path: Path,
    images: np.ndarray,
    reference: np.ndarray,
    reference_scores: np.ndarray | None,
    threshold: float | None,
) -> Side:
    """`path`'s numbers against the app's predictions (reference) on `images`."""
    from cnnstudio.core.export.verify import TIE

    try:
        probs, scores, speed = run_onnx(path, images)
    except Exception as exc:  # noqa: BLE001 - a runtime that cannot load or run the file
        raise UserError(
            f"The ONNX file could not be loaded back to check it ({type(exc).__name__}: {exc})."
        ) from exc
    if probs.shape != reference.shape:
        raise UserError("The ONNX file gives the wrong number of classes; please report this.")
    n = len(reference)
    rows = np.arange(n)
    app, mine = reference.argmax(axis=1), np.nan_to_num(probs, nan=-1.0).argmax(axis=1)
    same = (app == mine) | (reference[rows, app] - reference[rows, mine] < TIE)
    diff = np.abs(probs.astype(np.float64) - reference)
    unknown_differ = None
    if reference_scores is not None and threshold is not None and scores is not None:
        unknown_differ = int(((scores > threshold) != (reference_scores > threshold)).sum())
    return Side(
        same_class=int(same.sum()),
        max_diff=float(diff.max()) if n and np.isfinite(diff).all() else (0.0 if not n else float("inf")),
        unknown_differ=unknown_differ,
        size=path.stat().st_size,
        images_per_s=speed,
    )


def write_int8(
    out: Path,
    loaded: LoadedModel,
    images: np.ndarray,
    calibration_pictures: np.ndarray,
    calibration: Calibration | None,
    reference: np.ndarray,
    reference_scores: np.ndarray | None,
    *,
    on: str = "validation images",
    min_same_class: float = MIN_SAME_CLASS,
    force: bool = False,
) -> Int8Check:
    """Write `loaded` as an int8 ONNX file at `out`, checked on `images` (uint8 (N, C, H, W)) against
    the app's `reference` probabilities and unknown scores; kept only when it passes (or `force`),
    else Int8Refused says why and nothing is kept (core.export.job.export_int8 is the whole job).

    `calibration_pictures`: the training pictures whose activation ranges set the int8 scales."""
    from cnnstudio.core.export.onnx_export import write_onnx

    threshold = calibration.threshold if calibration is not None and reference_scores is not None else None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"The folder {out.parent} cannot be created ({exc.strerror or exc}).") from exc
    with tempfile.TemporaryDirectory(prefix="cnnstudio-int8-") as folder:
        float_path, int8_path = Path(folder) / "float.onnx", Path(folder) / "int8.onnx"
        write_onnx(
            float_path, loaded.model, loaded.preprocessing, loaded.class_names, calibration=calibration
        )
        quantize_onnx(float_path, int8_path, calibration_pictures)
        float_side = side(float_path, images, reference, reference_scores, threshold)
        int8_side = side(int8_path, images, reference, reference_scores, threshold)
        check = Int8Check(len(images), on, float_side, int8_side, min_same_class)
        if not check.ok and not force:
            raise Int8Refused(
                f"{check.message}. Nothing was saved: export the float ONNX instead, or keep the int8 "
                "file anyway with --force (in the app: Keep it anyway).",
                check,
            )
        if not check.ok:
            check = Int8Check(len(images), on, float_side, int8_side, min_same_class, forced=True)
        temp = out.with_name(f".{out.name}.partial{out.suffix}")
        try:
            temp.write_bytes(int8_path.read_bytes())
            os.replace(temp, out)
        except OSError as exc:
            raise UserError(f"{out} cannot be written ({exc.strerror or exc}).") from exc
        finally:
            temp.unlink(missing_ok=True)
    return check
