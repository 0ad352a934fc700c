"""Device and precision resolution, the CPU capability check, threads."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch

from cnnstudio.core.errors import UserError
from cnnstudio.core.train import device as device_module
from cnnstudio.core.train import resolve_device, resolve_precision

CPU = torch.device("cpu")


def test_auto_picks_float32_when_the_cpu_has_no_fast_bf16(monkeypatch):
    monkeypatch.setattr(device_module, "cpu_bf16_feature", lambda: None)
    plan = resolve_precision("auto", CPU)
    assert plan.name == "float32" and plan.autocast_dtype is None and not plan.channels_last
    assert plan.label.startswith("float32")


def test_auto_picks_bf16_when_the_cpu_has_it(monkeypatch):
    monkeypatch.setattr(device_module, "cpu_bf16_feature", lambda: "AVX512-BF16")
    plan = resolve_precision("auto", CPU)
    assert plan.name == "bf16" and plan.autocast_dtype == torch.bfloat16 and plan.channels_last
    assert plan.label == "bf16 mixed (CPU has AVX512-BF16)"


def test_full_is_float32_and_fast_is_bf16_everywhere(monkeypatch):
    monkeypatch.setattr(device_module, "cpu_bf16_feature", lambda: None)
    assert resolve_precision("full", CPU).name == "float32"
    fast = resolve_precision("fast", CPU)
    assert fast.name == "bf16" and "may be slower" in fast.label


def test_unknown_precision_is_a_user_error():
    with pytest.raises(UserError):
        resolve_precision("half", CPU)


def test_cpu_flags_are_read_from_proc_cpuinfo(monkeypatch, tmp_path):
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc/cpuinfo on Linux")
    real_read = device_module.Path.read_text

    def fake(flags):
        def read_text(self, *args, **kwargs):
            if str(self) == "/proc/cpuinfo":
                return f"processor : 0\nflags : fpu sse2 {flags}\n"
            return real_read(self, *args, **kwargs)

        return read_text

    monkeypatch.setattr(device_module.Path, "read_text", fake("avx2 avx512f avx512_bf16"))
    assert device_module.cpu_bf16_feature() == "AVX512-BF16"
    monkeypatch.setattr(device_module.Path, "read_text", fake("avx2 amx_bf16 amx_tile"))
    assert device_module.cpu_bf16_feature() == "AMX-BF16"
    monkeypatch.setattr(device_module.Path, "read_text", fake("avx2 avx512f"))
    assert device_module.cpu_bf16_feature() is None


def test_resolve_device():
    assert resolve_device("cpu") == CPU
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="CUDA"):
            resolve_device("cuda")
    with pytest.raises(UserError):
        resolve_device("tpu")


def test_importing_the_package_sets_passive_omp_and_threads():
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    code = (
        "import os, cnnstudio.core.train as t; print(os.environ['OMP_WAIT_POLICY']);"
        "print(t.configure_threads() == t.device.usable_cores())"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["PASSIVE", "True"]


def test_the_mixed_channels_last_layout_keeps_the_values():
    from cnnstudio.core.train.memory_format import use_channels_last

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Conv2d(8, 4, 3)
    ).eval()
    x = torch.rand(2, 3, 16, 16)
    expected = model(x)
    assert use_channels_last(model) is model and use_channels_last(model) is model  # idempotent
    first, second = model[0], model[3]
    assert first.weight.is_contiguous() and second.weight.is_contiguous(memory_format=torch.channels_last)
    assert len(first._forward_hooks) == 1
    out = model(x)
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(out, expected, atol=1e-5)
