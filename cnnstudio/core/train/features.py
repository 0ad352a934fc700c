"""The feature cache: a frozen prefix's output computed once per picture, and the head trained on it.

When every layer before the first trainable one is frozen (its batch norms in inference mode, no
dropout or stochastic depth) and augmentation is off, the prefix gives the same numbers for a
picture in every epoch. `split_frozen` cuts a built SpecModel into that prefix and the trainable
head; `FeaturePlan` computes the prefix's output for every training and validation picture in
epoch 1 ("Computing features: 1,234 of 5,000") and the Trainer then feeds the head from those
features: later epochs cost only the head. The model itself is untouched (the head's modules are
the model's own), so checkpoints, exports, evaluation and Grad-CAM see the full model.

On disk (the project's cache/, beside the decoded pictures) the features live under
``cache/features/<prefix key>/`` as chunks: ``<name>.npy`` (float32 rows, memory-mapped when
read) and ``<name>.keys.npy`` (16-byte BLAKE2b digests of each decoded picture's uint8 pixels).
The prefix key is a SHA-256 of everything that changes the features: the frozen layers' design,
their weights and buffers, the preprocessing, and the torch modules' description. A chunk is
written to a temporary file and renamed, its keys file last: a chunk without its keys file is
ignored, so a stop or a kill during the computation keeps the finished chunks and never leaves a
half-written one in use. Several processes may add chunks at once (names never collide).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from cnnstudio.core.atomic import check_free_space, write_bytes_atomic
from cnnstudio.core.evaluate._modes import evaluation_mode
from cnnstudio.core.train.data import DeviceData

FORMAT = 1
KEY_BYTES = 16
CHUNK_BYTES = 32 * 1024 * 1024  # a chunk file holds about this much (fewer rows lost to a kill)
COMPUTE_BATCH = 32
# Layers whose output depends on training mode or chance end the cacheable prefix.
STOCHASTIC = ("Dropout", "StochasticDepth", "AlphaDropout")
# Features bigger than 4 bytes per input pixel value would cost more memory than the pictures.
MAX_FEATURE_VALUES_PER_PIXEL = 1.0

Progress = Callable[[int, int], None]


@dataclass
class FrozenSplit:
    """A SpecModel cut in two: `prefix` (frozen, deterministic) then `head` (the rest)."""

    prefix: nn.Sequential
    head: nn.Sequential
    cut: int  # model.layers[:cut] is the prefix
    feature_shape: tuple[int, ...]


def _stochastic(module: nn.Module) -> bool:
    for sub in module.modules():
        if any(name in type(sub).__name__ for name in STOCHASTIC):
            return True
        if isinstance(sub, nn.modules.batchnorm._BatchNorm) and not list(sub.parameters(recurse=False)):
            return True  # no parameters: freeze_frozen_batchnorm leaves it in training mode
    return False


def split_frozen(model: nn.Module, input_shape: tuple[int, ...] | None = None) -> FrozenSplit | None:
    """The frozen prefix and the head of a SpecModel, or None when caching would not help or not be exact.

    None for: a model that is not a SpecModel, no frozen layer with weights before the first trainable
    one, nothing trainable after it, or features bigger than the pictures (`input_shape` C, H, W).
    """
    layers = getattr(model, "layers", None)
    shapes = getattr(model, "output_shapes", None)
    if not isinstance(layers, nn.ModuleList) or shapes is None or len(layers) < 2:
        return None
    cut = 0
    for module in layers:
        if any(p.requires_grad for p in module.parameters()) or _stochastic(module):
            break
        cut += 1
    if cut == 0 or cut == len(layers):
        return None
    if not any(True for m in layers[:cut] for _ in m.parameters()):
        return None  # only pooling or activations: nothing worth caching
    if not any(p.requires_grad for m in layers[cut:] for p in m.parameters()):
        return None
    shape = tuple(int(s) for s in shapes[cut - 1])
    if input_shape is not None:
        if int(np.prod(shape)) > MAX_FEATURE_VALUES_PER_PIXEL * int(np.prod(input_shape)):
            return None
    return FrozenSplit(nn.Sequential(*layers[:cut]), nn.Sequential(*layers[cut:]), cut, shape)


def cacheable(model: nn.Module, augment_enabled: bool, input_shape=None) -> FrozenSplit | None:
    """split_frozen when augmentation is off (augmented pictures differ every epoch), else None."""
    if augment_enabled:
        return None
    return split_frozen(model, input_shape)


def prefix_key(model: nn.Module, split: FrozenSplit, preprocessing) -> str:
    """SHA-256 (hex) of everything that changes the prefix's output for a given decoded picture."""
    h = hashlib.sha256()
    spec = getattr(model, "spec", None)
    layers: list[Any] = []
    if spec is not None and hasattr(spec, "layers"):
        for layer in spec.layers[: split.cut + 1]:  # the Input, then the frozen layers
            config = layer.to_config()
            # The name does not change the numbers; the weights' origin is hashed as tensors below.
            for field in ("name", "weights", "trainable"):
                config.pop(field, None)
            layers.append(config)
    prep = preprocessing.to_dict() if hasattr(preprocessing, "to_dict") else repr(preprocessing)
    head = {"format": FORMAT, "layers": layers, "preprocessing": prep, "modules": repr(split.prefix)}
    h.update(json.dumps(head, sort_keys=True, default=str).encode())
    for name, tensor in sorted(split.prefix.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous().reshape(-1)
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def picture_keys(X: torch.Tensor | np.ndarray) -> np.ndarray:
    """(N, 16) uint8: a BLAKE2b digest of each decoded picture's pixels (its identity in the cache)."""
    array = X.cpu().numpy() if isinstance(X, torch.Tensor) else np.asarray(X)
    out = np.empty((len(array), KEY_BYTES), dtype=np.uint8)
    for i in range(len(array)):
        out[i] = np.frombuffer(
            hashlib.blake2b(np.ascontiguousarray(array[i]).data, digest_size=KEY_BYTES).digest(), np.uint8
        )
    return out


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


class FeatureStore:
    """The features of one prefix key on disk: chunks of rows, looked up by picture key."""

    def __init__(self, folder: Path | str, feature_shape: tuple[int, ...]) -> None:
        self.folder = Path(folder)
        self.feature_shape = tuple(feature_shape)
        self._index: dict[bytes, tuple[int, int]] = {}
        self._chunks: list[np.ndarray] = []
        self.reload()

    @classmethod
    def for_key(cls, cache_dir: Path | str, key: str, feature_shape) -> FeatureStore:
        return cls(Path(cache_dir) / "features" / key, feature_shape)

    def reload(self) -> None:
        self._index, self._chunks = {}, []
        if not self.folder.is_dir():
            return
        for keys_file in sorted(self.folder.glob("*.keys.npy")):
            data_file = keys_file.with_name(keys_file.name[: -len(".keys.npy")] + ".npy")
            try:
                keys = np.load(keys_file, allow_pickle=False)
                rows = np.load(data_file, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError):
                continue  # a damaged chunk is skipped: its pictures are computed again
            if rows.shape[1:] != self.feature_shape or len(rows) != len(keys) or rows.dtype != np.float32:
                continue
            number = len(self._chunks)
            self._chunks.append(rows)
            for row, key in enumerate(keys):
                self._index.setdefault(key.tobytes(), (number, row))

    def __len__(self) -> int:
        return len(self._index)

    def has(self, keys: np.ndarray) -> np.ndarray:
        """Boolean (N,): which picture keys have their features stored."""
        return np.fromiter((k.tobytes() in self._index for k in keys), dtype=bool, count=len(keys))

    def read(self, keys: np.ndarray, out: np.ndarray, where: np.ndarray) -> None:
        """Copy the stored rows of keys[where] into out[where] (from the memory maps, a chunk at a time)."""
        wanted = np.flatnonzero(where)
        if not len(wanted):
            return
        located = np.array([self._index[keys[i].tobytes()] for i in wanted], dtype=np.int64).reshape(-1, 2)
        for chunk in np.unique(located[:, 0]):
            mine = located[:, 0] == chunk
            out[wanted[mine]] = self._chunks[chunk][located[mine, 1]]

    def add(self, keys: np.ndarray, rows: np.ndarray) -> None:
        """Store one chunk atomically (rows first, then the keys that make it count)."""
        if not len(keys):
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns():x}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        rows = np.ascontiguousarray(rows, dtype=np.float32)
        rows_data, keys_data = _npy_bytes(rows), _npy_bytes(np.ascontiguousarray(keys))
        check_free_space(self.folder, len(rows_data) + len(keys_data), "keeping the computed features")
        write_bytes_atomic(self.folder / f"{name}.npy", rows_data)
        try:
            write_bytes_atomic(self.folder / f"{name}.keys.npy", keys_data)
        except BaseException:
            (self.folder / f"{name}.npy").unlink(missing_ok=True)  # rows without keys would never count
            raise
        number = len(self._chunks)
        self._chunks.append(np.load(self.folder / f"{name}.npy", mmap_mode="r", allow_pickle=False))
        for row, key in enumerate(keys):
            self._index.setdefault(key.tobytes(), (number, row))


class IdentityPreprocessing:
    """The head's input is already the features: nothing to normalise."""

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def to_dict(self) -> dict[str, Any]:
        return {}


@torch.inference_mode()
def _run_prefix(prefix: nn.Module, xb: torch.Tensor, preprocessing, device: torch.device) -> torch.Tensor:
    return prefix(preprocessing.normalize(xb.to(device))).float().contiguous()


def compute_features(
    prefix: nn.Module,
    images: list[torch.Tensor],
    preprocessing,
    device: torch.device,
    feature_shape: tuple[int, ...],
    *,
    store: FeatureStore | None = None,
    progress: Progress | None = None,
    should_stop: Callable[[], bool] | None = None,
    batch_size: int = COMPUTE_BATCH,
) -> list[torch.Tensor] | None:
    """The prefix's float32 output for each uint8 (N, C, H, W) tensor in `images` (on the CPU).

    Pictures already in `store` are read from it; the others are computed in eval mode and added to
    it chunk by chunk. `progress(done, total)` counts pictures; None after a stop (the finished
    chunks are kept in the store).
    """
    with evaluation_mode(prefix):
        return _compute(
            prefix, images, preprocessing, device, feature_shape, store, progress, should_stop, batch_size
        )


def _compute(prefix, images, preprocessing, device, feature_shape, store, progress, should_stop, batch_size):
    outs, todo = [], []
    for X in images:
        out = np.zeros((len(X),) + tuple(feature_shape), dtype=np.float32)
        if store is not None and len(X):
            keys = picture_keys(X)
            stored = store.has(keys)
            store.read(keys, out, stored)
        else:
            keys, stored = None, np.zeros(len(X), dtype=bool)
        outs.append(out)
        todo.append((X, keys, np.flatnonzero(~stored)))
    total = sum(len(missing) for _, _, missing in todo)
    done = 0
    if progress is not None:
        progress(0, total)
    row_bytes = 4 * int(np.prod(feature_shape))
    if store is not None and total:  # on a full disk, a message before the work, not after it
        check_free_space(store.folder, total * (row_bytes + 16), "keeping the computed features")
    chunk_rows = max(batch_size, CHUNK_BYTES // max(1, row_bytes) // batch_size * batch_size)
    for (X, keys, missing), out in zip(todo, outs, strict=True):
        pending: list[np.ndarray] = []
        for lo in range(0, len(missing), batch_size):
            if should_stop is not None and should_stop():
                if store is not None and pending:
                    index = np.concatenate(pending)
                    store.add(keys[index], out[index])
                return None
            index = missing[lo : lo + batch_size]
            xb = X[torch.as_tensor(index)] if isinstance(X, torch.Tensor) else torch.from_numpy(X[index])
            out[index] = _run_prefix(prefix, xb, preprocessing, device).cpu().numpy()
            done += len(index)
            if store is not None:
                pending.append(index)
                if sum(len(p) for p in pending) >= chunk_rows:
                    index = np.concatenate(pending)
                    store.add(keys[index], out[index])
                    pending = []
            if progress is not None:
                progress(done, total)
        if store is not None and pending:
            index = np.concatenate(pending)
            store.add(keys[index], out[index])
    return [torch.from_numpy(out) for out in outs]


class FeatureData(DeviceData):
    """A split whose batches are the frozen prefix's features once `FeaturePlan.prepare` has run."""

    def __init__(self, base: DeviceData, plan: FeaturePlan) -> None:  # noqa: D107 - no super(): no images
        self.base = base
        self.plan = plan
        self.n, self.device, self.y = base.n, base.device, base.y
        self.shape = plan.split.feature_shape
        self.x = base.x  # replaced by the features in prepare()
        self.on_device = base.on_device

    def prepare(
        self, progress: Progress | None = None, should_stop: Callable[[], bool] | None = None
    ) -> bool:
        """Compute (or read) the features of the plan's splits; False when stopped."""
        return self.plan.prepare(progress, should_stop)

    def _use(self, features: torch.Tensor) -> None:
        self.x = features
        if self.device.type != "cpu":
            try:
                self.x = features.to(self.device)
            except (torch.OutOfMemoryError, RuntimeError) as exc:
                if "out of memory" not in str(exc).lower():
                    raise
        self.on_device = self.x.device.type == self.device.type
        self.shape = tuple(features.shape[1:])


class FeaturePlan:
    """Training on cached features: the head, its input, and the splits' feature data.

    `wrap(train_data, val_data)` gives FeatureData the trainer uses in place of the pictures;
    `head` and `preprocessing` are what the training step and validation run on.
    """

    def __init__(self, model: nn.Module, split: FrozenSplit, preprocessing, device, cache_dir=None) -> None:
        self.model = model
        self.split = split
        self.preprocessing = preprocessing
        self.device = torch.device(device)
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self.head = split.head
        self.head_preprocessing = IdentityPreprocessing()
        self.key = prefix_key(model, split, preprocessing) if self.cache_dir is not None else None
        self.data: list[FeatureData] = []
        self.ready = False
        self.computed = 0  # pictures computed (not read from the cache) by the last prepare
        self.seconds = 0.0

    @classmethod
    def for_model(
        cls, model, preprocessing, device, *, augment_enabled: bool, cache_dir=None, input_shape=None
    ):
        split = cacheable(model, augment_enabled, input_shape)
        return None if split is None else cls(model, split, preprocessing, device, cache_dir)

    def wrap(self, *datas: DeviceData | None) -> list[FeatureData | None]:
        self.data = [FeatureData(d, self) if d is not None else None for d in datas]
        return self.data

    def store(self) -> FeatureStore | None:
        if self.cache_dir is None:
            return None
        return FeatureStore.for_key(self.cache_dir, self.key, self.split.feature_shape)

    def prepare(
        self, progress: Progress | None = None, should_stop: Callable[[], bool] | None = None
    ) -> bool:
        if self.ready:
            return True
        start = time.perf_counter()
        datas = [d for d in self.data if d is not None]
        counted: list[int] = [0]

        def count(done: int, total: int) -> None:
            counted[0] = done
            if progress is not None:
                progress(done, total)

        features = compute_features(
            self.split.prefix,
            [d.base.x for d in datas],
            self.preprocessing,
            self.device,
            self.split.feature_shape,
            store=self.store(),
            progress=count,
            should_stop=should_stop,
        )
        self.computed = counted[0]
        self.seconds = time.perf_counter() - start
        if features is None:
            return False
        for data, feats in zip(datas, features, strict=True):
            data._use(feats)
        self.ready = True
        return True


class CachedFeatureInput:
    """A preprocessing for evaluation with the head as the model: uint8 pictures in, their features out.

    The features come from the store when there, else from the prefix (and are added to the store).
    Used as `evaluate_model(plan.head, X, y, preprocessing=CachedFeatureInput(...))`.
    """

    def __init__(self, plan: FeaturePlan) -> None:
        self.plan = plan
        self.store = plan.store()
        self.reused = 0

    def normalize(self, xb: torch.Tensor) -> torch.Tensor:
        plan = self.plan
        if self.store is not None:
            self.reused += int(self.store.has(picture_keys(xb)).sum())
        (features,) = compute_features(
            plan.split.prefix,
            [xb.cpu()],
            plan.preprocessing,
            plan.device,
            plan.split.feature_shape,
            store=self.store,
        )
        return features.to(xb.device)

    def to_dict(self) -> dict[str, Any]:
        return {}


def evaluation_inputs(model: nn.Module, preprocessing, cache_dir, device="cpu"):
    """(model, preprocessing) for evaluate_model: the head and cached features when the model has a
    frozen prefix whose features are in the cache (or can be added to it), else the arguments as given."""
    if cache_dir is None:
        return model, preprocessing
    shape = None
    if hasattr(preprocessing, "height"):
        shape = (1 if preprocessing.channels == "L" else 3, preprocessing.height, preprocessing.width)
    plan = FeaturePlan.for_model(
        model, preprocessing, device, augment_enabled=False, cache_dir=cache_dir, input_shape=shape
    )
    if plan is None:
        return model, preprocessing
    return plan.head, CachedFeatureInput(plan)


# ----- the Trainer's hooks (kept here so trainer.py changes by a few lines) ---------------------------
PHASE = "Computing features"


ESTIMATE_BATCH = 16


def estimate_speedup(model: nn.Module, split: FrozenSplit, preprocessing, augment, data: DeviceData) -> float:
    """How many times faster an epoch would be with augmentation off (so with cached features),
    measured on one small batch: (augment + frozen prefix + head step) / head step. The head's step
    runs on a copy of it (the model, its gradients and the random streams stay untouched)."""
    import copy

    from cnnstudio.core.train.augment import augment_batch

    n = min(ESTIMATE_BATCH, data.n)
    xb = data.x[:n].to(data.device)
    head = copy.deepcopy(split.head).train()
    timings: list[tuple[float, float, float]] = []
    with evaluation_mode(split.prefix):
        with torch.random.fork_rng(devices=[]):
            generator = torch.Generator().manual_seed(0)
            for _ in range(2):  # the first round warms up the kernels; the second is measured
                t0 = time.perf_counter()
                pixels = augment_batch(xb.float(), augment, generator, value_range=255.0)
                t1 = time.perf_counter()
                with torch.no_grad():
                    features = split.prefix(preprocessing.normalize(pixels)).float()
                t2 = time.perf_counter()
                logits = head(features)
                logits.float().sum().backward()
                t3 = time.perf_counter()
                timings.append((t1 - t0, t2 - t1, t3 - t2))
    aug, prefix, head_step = timings[-1]
    return (aug + prefix + head_step) / max(head_step, 1e-6)


def plan_features(trainer, train_data: DeviceData) -> FeaturePlan | None:
    """The FeaturePlan for a Trainer's model and config, or None when the cache does not apply.

    With augmentation on and a model the cache would otherwise apply to, sets
    `trainer.feature_cache_speedup` (estimate_speedup) for the first epoch's logs."""
    if not getattr(trainer, "use_feature_cache", True):
        return None
    if (
        getattr(trainer, "dist", None) is not None
    ):  # DDP wraps the whole model; each process would cache its share
        return None
    augment = trainer.config.augment
    if augment.enabled and getattr(trainer, "feature_cache_speedup", None) is None:
        split = split_frozen(trainer.model, train_data.shape)
        if split is not None and train_data.n:
            trainer.feature_cache_speedup = estimate_speedup(
                trainer.model, split, trainer.preprocessing, augment, train_data
            )
    return FeaturePlan.for_model(
        trainer.model,
        trainer.preprocessing,
        trainer.device,
        augment_enabled=trainer.config.augment.enabled,
        cache_dir=getattr(trainer, "feature_cache_dir", None),
        input_shape=train_data.shape,
    )


def feature_inputs(data, model: nn.Module, preprocessing):
    """(module, preprocessing) that a batch of `data` goes through: the head on features, else the model."""
    plan = getattr(data, "plan", None)
    if plan is None:
        return model, preprocessing
    return plan.head, plan.head_preprocessing


def prepare_features(data, callbacks, should_stop: Callable[[], bool]) -> bool:
    """Compute the features before the first batch that needs them, reporting the phase to the callbacks
    (`on_phase({"phase", "done", "total"})`). True when ready (or not feature data); False when stopped."""
    plan = getattr(data, "plan", None)
    if plan is None or plan.ready:
        return True

    def progress(done: int, total: int) -> None:
        callbacks.call("on_phase", {"phase": PHASE, "done": done, "total": total})

    ready = plan.prepare(progress, should_stop)
    callbacks.call(
        "on_phase",
        {
            "phase": PHASE,
            "done": plan.computed,
            "total": plan.computed,
            "finished": ready,
            "seconds": plan.seconds,
            "reused": sum(len(d.base.y) for d in plan.data if d is not None) - plan.computed if ready else 0,
        },
    )
    return ready


def speedup_logs(trainer) -> dict[str, float]:
    """{"feature_cache_speedup": x} once (the first epoch of a fit), when plan_features measured it."""
    value = getattr(trainer, "feature_cache_speedup", None)
    if value is None or getattr(trainer, "_speedup_logged", False):
        return {}
    trainer._speedup_logged = True
    return {"feature_cache_speedup": round(float(value), 1)}
