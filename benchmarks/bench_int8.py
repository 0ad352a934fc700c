"""int8 ONNX against float ONNX: agreement, accuracy, file size and speed, on this CPU.

    python benchmarks/bench_int8.py                      # quick: the Seed CNN
    BENCH_FULL=1 python benchmarks/bench_int8.py         # both models, more pictures
    python benchmarks/bench_int8.py --models seed mobilenet-v3-small

A backbone without its ImageNet weights on this computer is measured and reported, but its agreement
and accuracy are not checked against the targets (a random network is not what a user exports).

Two models, each trained here on scikit-learn's handwritten digits (1,797 real 8x8 scans, made
32x32 grey as the demo writes them, then resized to the model's input by Pillow) and calibrated
as after every training run (temperature and unknown score, so the exported graph has its float
tail): the Seed CNN (64x64, 2 epochs) and the MobileNetV3-Small template (224x224, its last layer
trained for 8 epochs on the frozen backbone). The backbone uses the ImageNet weights when they are
on this computer, else random weights, and the output says which; random weights get their
batch-norm statistics re-estimated on the training digits first (with the default statistics a
random backbone's features are all alike and the model gives one class to every picture).

Each is exported as float ONNX (core.export.onnx_export) and made int8 by core.export.int8
(onnxruntime static quantisation, QDQ, signed int8, weights per channel, calibrated on up to 300
training pictures). Then, on held-out test digits: agreement (int8's class = float's class),
accuracy of both, the int8 file's size against the float file's, and its images per second against
the float file's (onnxruntime, batches of 32, the two files taking turns, median of the rounds).

Size is given for the whole file and for the network alone: the unknown score's constants (for the
"layers" score at most two 256 x 256 matrices and their centres, about 0.5 MB) stay
float32 in the int8 file by design, the same bytes in both files, so the network's ratio is
(int8 file - those bytes) / (float file - those bytes).

Targets (exit 1 on a miss): agreement >= 99% (the export's own rule), accuracy within 1 point of
the float file's, the network's size <= 0.35x (the whole file's is printed). Speed depends on the CPU: int8 gains need VNNI instructions
(AVX512-VNNI or AVX-VNNI); on a CPU with them the target is >= 1.0x, without them it is reported only.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

# isort: off
import cnnstudio  # noqa: F401 - sets OMP_WAIT_POLICY before torch is imported, as in the app
# isort: on

import numpy as np
import torch
from PIL import Image
from targets import Targets, size

from cnnstudio.core.export.int8 import RUN_BATCH, quantize_onnx, run_onnx
from cnnstudio.core.export.onnx_export import write_onnx
from cnnstudio.core.export.outputs import normalize_numpy
from cnnstudio.core.spec import template
from cnnstudio.core.spec.backbones import weights_origin
from cnnstudio.core.train import TrainConfig, Trainer
from cnnstudio.core.trust import fit_trust

# template, epochs, learning rate; the frozen backbone's features are cached after the first epoch
MODELS = {"seed": ("seed", 2, 1e-3), "mobilenet": ("mobilenet-v3-small", 8, 1e-2)}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def has_vnni() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags


def digits(n: int, side: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """n digits as uint8 (N, 3, side, side) and their labels, in a seeded order."""
    from sklearn.datasets import load_digits

    data = load_digits()
    order = np.random.default_rng(seed).permutation(len(data.target))[:n]
    pictures = []
    for array8 in data.images[order]:
        grey = Image.fromarray((array8 * (255.0 / 16.0)).round().astype(np.uint8), mode="L")
        grey = grey.resize((32, 32), Image.Resampling.BICUBIC)  # as the demo writes them
        rgb = grey.resize((side, side), Image.Resampling.BILINEAR).convert("RGB")
        pictures.append(np.asarray(rgb).transpose(2, 0, 1))
    return np.stack(pictures), data.target[order].astype(np.int64)


def tail_bytes(path: Path) -> int:
    """Bytes of the float constants only the calibration tail uses (core.export.int8.tail_nodes)."""
    import onnx
    from onnx.helper import tensor_dtype_to_np_dtype

    from cnnstudio.core.export.int8 import _name_nodes, tail_nodes

    model = onnx.load(str(path))
    _name_nodes(model)
    tail = set(tail_nodes(model.graph))
    used_by_network = {i for n in model.graph.node if n.name not in tail for i in n.input}
    used_by_tail = {i for n in model.graph.node if n.name in tail for i in n.input}
    return sum(
        int(np.prod(t.dims, dtype=np.int64)) * np.dtype(tensor_dtype_to_np_dtype(t.data_type)).itemsize
        for t in model.graph.initializer
        if t.name in used_by_tail and t.name not in used_by_network
    )


def reestimate_batch_norms(model: torch.nn.Module, X: np.ndarray, prep) -> None:
    """Batch-norm running statistics from the pictures (a cumulative average over batches of 32)."""
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    for m in norms:
        m.train()  # (SpecModel.train keeps a frozen backbone's norms in eval mode)
    with torch.no_grad():
        for i in range(0, len(X), 32):
            model(torch.from_numpy(normalize_numpy(X[i : i + 32], prep)))
    for m in norms:
        m.momentum = 0.1
        m.eval()


def speeds(paths: list[Path], X: np.ndarray, prep, rounds: int) -> list[float]:
    """Images per second of each ONNX file on X, the files taking turns; median over the rounds."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    sessions = [ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"]) for p in paths]
    batches = [normalize_numpy(X[i : i + RUN_BATCH], prep) for i in range(0, len(X), RUN_BATCH)]
    for session in sessions:
        session.run(None, {"image": batches[0]})
    times: list[list[float]] = [[] for _ in sessions]
    for _ in range(rounds):
        for session, spent in zip(sessions, times, strict=True):
            start = time.perf_counter()
            for batch in batches:
                session.run(None, {"image": batch})
            spent.append(time.perf_counter() - start)
    return [len(X) / float(np.median(t)) for t in times]


def measure(name: str, args, folder: Path) -> dict:
    template_name, epochs, lr = MODELS[name]
    spec = template(template_name)
    prep = spec.preprocessing()
    torch.manual_seed(args.seed)
    X, y = digits(args.train + args.val + args.test, prep.height, args.seed)
    tr = slice(0, args.train)
    va = slice(args.train, args.train + args.val)
    te = slice(args.train + args.val, None)
    started = time.perf_counter()
    trainer = Trainer(
        spec,
        TrainConfig(epochs=epochs, batch_size=32, lr=lr, seed=args.seed),
        class_names=[str(i) for i in range(10)],
        preprocessing=prep,
    )
    weights = ""
    if template_name != "seed":
        arch = next(layer.arch for layer in spec.layers if layer.type == "Backbone")
        weights = f" (backbone: {weights_origin(arch)})"
        if weights_origin(arch) == "random weights":
            reestimate_batch_norms(trainer.model.to("cpu"), X[tr], prep)
            weights = " (backbone: random weights, batch-norm statistics from the training digits)"
    trainer.fit((X[tr], y[tr]), (X[va], y[va]))
    model = trainer.model.to("cpu").eval()
    cal = fit_trust(model, prep, X[tr], y[tr], X[va], y[va])
    trained_s = time.perf_counter() - started
    float_path, int8_path = folder / f"{name}.onnx", folder / f"{name}-int8.onnx"
    write_onnx(float_path, model, prep, [str(i) for i in range(10)], calibration=cal)
    started = time.perf_counter()
    quantize_onnx(float_path, int8_path, X[tr])
    quantized_s = time.perf_counter() - started
    float_probs, _s, _ips = run_onnx(float_path, X[te])
    int8_probs, _s, _ips = run_onnx(int8_path, X[te])
    float_ips, int8_ips = speeds([float_path, int8_path], X[te][: args.speed_images], prep, args.rounds)
    return {
        "name": f"{template_name}{weights}",
        "agreement": float((float_probs.argmax(1) == int8_probs.argmax(1)).mean()),
        "float_accuracy": float((float_probs.argmax(1) == y[te]).mean()),
        "int8_accuracy": float((int8_probs.argmax(1) == y[te]).mean()),
        "max_diff": float(np.abs(float_probs - int8_probs).max()),
        "float_bytes": float_path.stat().st_size,
        "int8_bytes": int8_path.stat().st_size,
        "tail_bytes": tail_bytes(float_path),
        "float_ips": float_ips,
        "int8_ips": int8_ips,
        "trained_s": trained_s,
        "quantized_s": quantized_s,
        "test": len(y[te]),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--models", nargs="+", choices=list(MODELS), default=size(list(MODELS)[:1], list(MODELS))
    )
    parser.add_argument("--train", type=int, default=size(500, 1000))
    parser.add_argument("--val", type=int, default=size(100, 300))
    parser.add_argument("--test", type=int, default=size(300, 497))
    parser.add_argument("--speed-images", type=int, default=size(64, 256), help="pictures per speed round")
    parser.add_argument("--rounds", type=int, default=size(3, 7))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    vnni = has_vnni()
    print(f"CPU: {cpu_name()}; VNNI: {'yes' if vnni else 'no'}; torch threads {torch.get_num_threads()}")
    targets = Targets()
    with tempfile.TemporaryDirectory(prefix="bench-int8-") as folder:
        for name in args.models:
            r = measure(name, args, Path(folder))
            print(
                f"{r['name']}: trained in {r['trained_s']:.0f} s, quantised in {r['quantized_s']:.0f} s; "
                f"on {r['test']} test digits: accuracy float {r['float_accuracy']:.1%}, int8 "
                f"{r['int8_accuracy']:.1%}; largest confidence difference {r['max_diff'] * 100:.1f} points; "
                f"{r['float_bytes'] / 1e6:.2f} MB -> {r['int8_bytes'] / 1e6:.2f} MB "
                f"(of which float32 unknown-score constants {r['tail_bytes'] / 1e6:.2f} MB); "
                f"{r['float_ips']:,.0f} -> {r['int8_ips']:,.0f} images/s",
                flush=True,
            )
            if "random weights" in r["name"]:
                # Not what a user exports (and the export's own check would refuse to keep it): a
                # backbone without its ImageNet weights says nothing about int8 on that network.
                print(
                    f"{name}: agreement {r['agreement']:.1%}, accuracy {r['float_accuracy']:.1%} -> "
                    f"{r['int8_accuracy']:.1%}: reported only (random backbone; "
                    "`cnnstudio weights get` and run again to check them)"
                )
            else:
                targets.check(f"{name}: int8 agrees with float", r["agreement"] * 100, 99, unit="%")
                targets.check(
                    f"{name}: int8 accuracy minus float accuracy",
                    (r["int8_accuracy"] - r["float_accuracy"]) * 100,
                    -1,
                    unit=" points",
                )
            network = (r["int8_bytes"] - r["tail_bytes"]) / (r["float_bytes"] - r["tail_bytes"])
            targets.check(
                f"{name}: int8 network size / float network size", network, 0.35, at_most=True, unit="x"
            )
            print(f"{name}: whole file int8 / float: {r['int8_bytes'] / r['float_bytes']:.2f}x")
            ratio = r["int8_ips"] / r["float_ips"]
            if vnni:
                targets.check(f"{name}: int8 speed / float speed", ratio, 1.0)
            else:
                print(f"{name}: int8 speed / float speed: {ratio:.2f}x (no VNNI on this CPU: reported only)")
    return targets.exit_code()


if __name__ == "__main__":
    sys.exit(main())
