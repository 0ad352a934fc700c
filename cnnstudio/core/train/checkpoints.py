"""Checkpoints: weights as safetensors (float32), training state as a weights-only torch file.

A run folder holds:
- last.safetensors: the weights at the last checkpoint (end of each epoch, or a stop).
- best.safetensors: the weights of the best epoch so far (by the config's monitor).
- last_optimizer.pt: optimizer, scheduler, grad scaler and RNG states, the epoch and position,
  the early-stopping and best-value state and the epoch logs. Only tensors and plain containers
  (dict, list, str, int, float, bool, None) go in, so `torch.load(weights_only=True)` reads it and
  opening a run never runs code from it.

The two "last" files form a pair, tagged with the same checkpoint number (`seq`). They are written
to temp files first and then renamed, the previous training state kept as last_optimizer.prev.pt
until the new weights are in place; a kill between the renames leaves a pair that matches (the old
weights with the .prev state), so a kill -9 at any moment leaves a loadable, resumable checkpoint.
"""

from __future__ import annotations

import io
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save as safetensors_save

from cnnstudio.core.atomic import check_free_space, words_for_full_disk, write_bytes_atomic
from cnnstudio.core.errors import UserError
from cnnstudio.core.runs.files import BEST_WEIGHTS, LAST_WEIGHTS, PREV_TRAIN_STATE, TRAIN_STATE

WEIGHTS_FORMAT = "cnnstudio-weights/1"


def model_state_float32(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A CPU copy of the model's state: floating tensors as contiguous float32, others as they are."""
    out = {}
    for name, tensor in model.state_dict().items():
        t = tensor.detach()
        t = t.to("cpu", torch.float32) if t.is_floating_point() else t.to("cpu")
        # clone: a tensor shared with the model (CPU) or with another entry (tied weights) cannot
        # be serialised by safetensors, and the snapshot must not change as training goes on.
        out[name] = t.clone(memory_format=torch.contiguous_format)
    return out


def all_finite(state: dict[str, torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in state.values() if t.is_floating_point())


def weights_bytes(state: dict[str, torch.Tensor], **meta: Any) -> bytes:
    metadata = {"format": WEIGHTS_FORMAT, **{k: str(v) for k, v in meta.items()}}
    return safetensors_save(state, metadata=metadata)


def read_weights(path: Path | str) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """(state dict, metadata) of a safetensors file."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt", device="cpu") as f:
            metadata = dict(f.metadata() or {})
            state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open has no __iter__
    except FileNotFoundError:
        raise UserError(f"The weights file {path} does not exist.") from None
    except Exception as exc:  # noqa: BLE001 - safetensors raises its own error types
        raise UserError(f"{path} is not a weights file this app can read ({exc}).") from exc
    return state, metadata


def _describe_shape(shape) -> str:
    return "x".join(str(s) for s in shape) or "scalar"


def check_compatible(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Raise UserError, in words, when `state` does not fit `model` exactly."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [
        f"{k} (saved {_describe_shape(state[k].shape)}, model {_describe_shape(own[k].shape)})"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if not (missing or unexpected or wrong):
        return
    parts = []
    if wrong:
        parts.append(f"{len(wrong)} with a different shape: {', '.join(wrong[:3])}")
    if missing:
        parts.append(f"{len(missing)} missing from the file: {', '.join(missing[:3])}")
    if unexpected:
        parts.append(f"{len(unexpected)} the model does not have: {', '.join(unexpected[:3])}")
    raise UserError(
        f"The weights in {source} do not fit this model ({'; '.join(parts)}). "
        "Use weights from a run with the same model design and the same classes."
    )


def load_state_into(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    check_compatible(model, state, source)
    model.load_state_dict(state, strict=True)


def load_init_weights(model: torch.nn.Module, init: Path | str | dict) -> str:
    """Load starting weights for fine-tuning (a .safetensors file, a run folder, or a state dict).

    A run folder means its best.safetensors. Returns a description for config.json.
    """
    if isinstance(init, dict):
        load_state_into(model, init, "the given weights")
        return "state dict"
    path = Path(init)
    if path.is_dir():
        path = path / BEST_WEIGHTS
    state, _ = read_weights(path)
    load_state_into(model, state, path.name if path.parent == Path() else str(path))
    return str(path)


def rng_state(device: torch.device, generator: torch.Generator) -> dict[str, Any]:
    """Every random stream training draws from: torch's (dropout), the trainer's generator, CUDA's."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "generator": generator.get_state(), "cuda": None}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any], device: torch.device, generator: torch.Generator) -> None:
    torch.set_rng_state(state["torch"])
    generator.set_state(state["generator"])
    if device.type == "cuda" and state.get("cuda") is not None:
        torch.cuda.set_rng_state_all(state["cuda"])


def _stage(folder: Path, name: str, data: bytes) -> str:
    # a full disk: a message in words, and the last checkpoint stays as it was
    with words_for_full_disk(folder, len(data), "saving the checkpoint"):
        return _write_staged(folder, name, data)


def _write_staged(folder: Path, name: str, data: bytes) -> str:
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return tmp


def save_last(run_dir: Path, weights: dict[str, torch.Tensor], train_state: dict[str, Any]) -> None:
    """Write the (last.safetensors, last_optimizer.pt) pair; see the module docstring for the order."""
    run_dir = Path(run_dir)
    seq = train_state["seq"]
    buffer = io.BytesIO()
    torch.save(train_state, buffer)
    state_bytes = buffer.getvalue()
    weights_data = weights_bytes(weights, seq=seq, epoch=train_state["epoch"])
    check_free_space(run_dir, len(state_bytes) + len(weights_data), "saving the checkpoint")
    tmp_state = _stage(run_dir, TRAIN_STATE, state_bytes)
    try:
        tmp_weights = _stage(run_dir, LAST_WEIGHTS, weights_data)
    except BaseException:
        Path(tmp_state).unlink(missing_ok=True)
        raise
    try:
        if (run_dir / TRAIN_STATE).exists():
            os.replace(run_dir / TRAIN_STATE, run_dir / PREV_TRAIN_STATE)
        os.replace(tmp_state, run_dir / TRAIN_STATE)
        os.replace(tmp_weights, run_dir / LAST_WEIGHTS)
    finally:
        for tmp in (tmp_state, tmp_weights):
            Path(tmp).unlink(missing_ok=True)


def save_best(
    run_dir: Path, weights: dict[str, torch.Tensor], epoch: int, monitor: str, value: float
) -> None:
    write_bytes_atomic(
        Path(run_dir) / BEST_WEIGHTS, weights_bytes(weights, epoch=epoch, monitor=monitor, value=value)
    )


def load_train_state_file(path: Path) -> dict[str, Any]:
    with open(path, "rb") as f:
        return torch.load(f, map_location="cpu", weights_only=True)


def load_last(run_dir: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """The matching (weights, training state) pair of a run's last checkpoint."""
    run_dir = Path(run_dir)
    if not (run_dir / LAST_WEIGHTS).exists():
        raise UserError(f"The run {run_dir.name} has no checkpoint to continue from. Start a new run.")
    weights, meta = read_weights(run_dir / LAST_WEIGHTS)
    for name in (TRAIN_STATE, PREV_TRAIN_STATE):
        path = run_dir / name
        if path.exists():
            state = load_train_state_file(path)
            if str(state.get("seq")) == meta.get("seq"):
                return weights, state
    raise UserError(
        f"The run {run_dir.name} has weights but not the training state that goes with them, "
        "so it cannot continue. Its weights can still be evaluated and exported."
    )


def load_run_weights(
    run_dir: Path | str, which: str = "best", *, model: torch.nn.Module | None = None
) -> tuple[torch.nn.Module, dict | None, dict, list[str]]:
    """(model in eval mode on the CPU, spec dict or None, preprocessing dict, class names) of a run.

    `which` is "best" (falls back to "last" when no epoch has finished yet) or "last". A run
    trained from a ModelSpec is rebuilt from its config.json through core.spec; a run trained on a
    model given as code needs that model passed as `model` (its weights are loaded into it).
    """
    from cnnstudio.core.runs.files import CONFIG_FILE, read_json
    from cnnstudio.core.train.spec_bridge import build_from_spec

    run_dir = Path(run_dir)
    if which not in ("best", "last"):
        raise ValueError(f"which must be 'best' or 'last', not {which!r}")
    if not (run_dir / CONFIG_FILE).exists():
        raise UserError(f"{run_dir} is not a training run (it has no {CONFIG_FILE}).")
    config = read_json(run_dir / CONFIG_FILE)
    path = run_dir / (BEST_WEIGHTS if which == "best" else LAST_WEIGHTS)
    if which == "best" and not path.exists():
        path = run_dir / LAST_WEIGHTS
    if not path.exists():
        raise UserError(f"The run {run_dir.name} has no saved weights yet.")
    class_names = list(config.get("class_names") or [])
    spec = config.get("spec")
    if model is None:
        if spec is None:
            raise UserError(
                f"The run {run_dir.name} was trained on a model given as code, not a model design; "
                "pass that model to load its weights."
            )
        model, _, _ = build_from_spec(spec, len(class_names))
    state, _ = read_weights(path)
    load_state_into(model.cpu(), state, f"{run_dir.name}/{path.name}")
    return model.eval(), spec, config.get("preprocessing") or {}, class_names
