"""Where and how precisely to compute: the device, the precision plan, the number of threads.

Threads: `cnnstudio/__init__.py` sets OMP_WAIT_POLICY=PASSIVE (unless the user set it) before
anything imports torch; importing this package always runs that first. It only takes effect when
torch is imported after it: a script that imports torch before cnnstudio keeps OpenMP's busy
waiting, which made training 3-7x slower here as soon as another thread wanted a core.
`configure_threads()` sets torch's intra-op threads to the cores this process may use, once.

Precision ("auto" | "full" | "fast"):
- CPU: bfloat16 autocast (+ channels_last memory format) when the processor computes bf16 natively
  (AVX512-BF16 or AMX-BF16), float32 otherwise. "fast" uses bf16 even where it is emulated (slow).
- CUDA: bf16 autocast where the GPU supports it, else float16 autocast with a GradScaler.
- Apple MPS: float32 (autocast on MPS is not mature enough for us to rely on).
- "full": float32 everywhere.
Only the forward pass and the loss run under autocast; weights, optimizer state, checkpoints,
validation and exports stay float32.

channels_last goes with bf16 (see memory_format.py for the measurements and the one exception, the
first convolution); float32 stays NCHW, where channels_last measured no clear gain here.
"""

from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from cnnstudio.core.errors import UserError

_threads_configured = False


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells, else all)."""
    if hasattr(os, "sched_getaffinity"):
        try:
            return max(1, len(os.sched_getaffinity(0)))
        except OSError:
            pass
    return max(1, os.cpu_count() or 1)


def configure_threads() -> int:
    """Set torch's thread count once per process; returns it."""
    global _threads_configured
    if not _threads_configured:
        torch.set_num_threads(usable_cores())
        _threads_configured = True
    return torch.get_num_threads()


def cpu_bf16_feature() -> str | None:
    """The CPU feature that makes bf16 fast ("AMX-BF16", "AVX512-BF16"), or None when absent or unknown.

    Never guesses: a platform we cannot ask answers None. Apple silicon answers None too: its CPU
    path through PyTorch is not faster in bf16.
    """
    if sys.platform.startswith("linux"):
        try:
            text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            text = ""
        for line in text.splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[-1].split())
                if "amx_bf16" in flags:
                    return "AMX-BF16"
                if "avx512_bf16" in flags:
                    return "AVX512-BF16"
                return None
    if sys.platform == "darwin" or platform.machine().lower() in ("arm64", "aarch64"):
        return None
    # Elsewhere (Windows), torch's own dispatch level is the only safe hint.
    capability = ""
    try:
        capability = str(torch.backends.cpu.get_cpu_capability()).upper()
    except Exception:  # noqa: BLE001 - an old torch without the call: unknown means no
        return None
    if "AMX" in capability:
        return "AMX-BF16"
    if "BF16" in capability:
        return "AVX512-BF16"
    return None


def cpu_supports_fast_bf16() -> bool:
    return cpu_bf16_feature() is not None


def resolve_device(name: str = "auto") -> torch.device:
    """ "auto" = CUDA, then Apple MPS, then CPU; or a chosen "cpu", "cuda", "cuda:1", "mps"."""
    name = (name or "auto").lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"Unknown device {name!r}; choose auto, cpu, cuda or mps.") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(
            "This computer has no CUDA GPU that PyTorch can use. Choose the device 'auto' or 'cpu'."
        )
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UserError(
            f"There is no GPU number {device.index} (this computer has {torch.cuda.device_count()})."
        )
    if device.type == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise UserError(
            "This computer has no Apple GPU that PyTorch can use. Choose the device 'auto' or 'cpu'."
        )
    if device.type not in ("cpu", "cuda", "mps"):
        raise UserError(f"Unknown device {name!r}; choose auto, cpu, cuda or mps.")
    return device


@dataclass(frozen=True)
class PrecisionPlan:
    """How the forward pass computes. name is "float32", "bf16" or "fp16"."""

    name: str
    autocast_dtype: torch.dtype | None
    grad_scaler: bool
    channels_last: bool
    label: str


FLOAT32 = PrecisionPlan("float32", None, False, False, "float32")


def resolve_precision(setting: str, device: torch.device) -> PrecisionPlan:
    """The plan for a setting ("auto" | "full" | "fast") on a device."""
    if setting not in ("auto", "full", "fast"):
        raise UserError(f"Precision must be auto, full or fast (not {setting!r}).")
    if setting == "full":
        return FLOAT32
    if device.type == "cuda":
        if torch.cuda.is_bf16_supported():
            return PrecisionPlan("bf16", torch.bfloat16, False, True, "bf16 mixed (GPU)")
        return PrecisionPlan("fp16", torch.float16, True, True, "fp16 mixed with loss scaling (GPU)")
    if device.type == "cpu":
        feature = cpu_bf16_feature()
        if feature is not None:
            return PrecisionPlan("bf16", torch.bfloat16, False, True, f"bf16 mixed (CPU has {feature})")
        if setting == "fast":
            return PrecisionPlan(
                "bf16",
                torch.bfloat16,
                False,
                True,
                "bf16 mixed (chosen; this CPU has no fast bf16, may be slower)",
            )
        return PrecisionPlan("float32", None, False, False, "float32 (this CPU has no fast bf16)")
    return PrecisionPlan(
        "float32", None, False, False, f"float32 (mixed precision is not used on {device.type})"
    )
