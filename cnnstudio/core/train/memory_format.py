"""channels_last (NHWC) for the bf16 path, with the first convolution kept in NCHW ("mixed").

Measured on this machine's AVX512-BF16 CPU (2 cores shared with other work), Seed CNN, batch 32,
2 threads, one training step, 25 interleaved rounds, median (minimum) in ms:
                     float32 NCHW  float32 NHWC  bf16 NCHW  bf16 NHWC  bf16 mixed
    busier machine     204 (108)     163 (96)    133 (69)   295 (84)   107 (51)
    quieter machine    118 (72)      101 (68)     75 (51)    79 (27)    55 (31)
Whole epochs (benchmarks/bench_bf16.py, quieter): bf16 NHWC 2.15x float32 NCHW, mixed 1.96x.
In bf16, NCHW max-pooling is slow (17 ms against 3-8 ms in NHWC); in NHWC, the weight gradient of
the first convolution (3 input channels) runs a oneDNN kernel that scales badly when its threads
compete for cores (8 ms on 1 thread, 18-265 ms on 2 busy ones): all-NHWC is the fastest when it
has the cores to itself and the slowest when it does not. "mixed" is nearly as fast and steady: the
model goes NHWC except convolutions with at most 4 input channels (the first layer on RGB or grey
pictures), which keep NCHW weights and hand NHWC to the next layer through a forward hook. The
input batch stays NCHW. Values are unchanged: only the memory layout differs. float32 stays NCHW
(NHWC gained 1.14x on whole epochs here, within the noise, and varies by model).
"""

from __future__ import annotations

import torch

_MARK = "_cnnstudio_channels_last"
FEW_CHANNELS = 4


def _to_channels_last(module: torch.nn.Module, inputs, output):
    if isinstance(output, torch.Tensor) and output.dim() == 4:
        return output.contiguous(memory_format=torch.channels_last)
    return output


def use_channels_last(model: torch.nn.Module) -> torch.nn.Module:
    """Put `model` in the layout above, in place (idempotent); returns it."""
    if getattr(model, _MARK, False):
        return model
    model.to(memory_format=torch.channels_last)
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d) and module.in_channels <= FEW_CHANNELS:
            with torch.no_grad():
                module.weight.data = module.weight.data.contiguous()
            module.register_forward_hook(_to_channels_last)
    setattr(model, _MARK, True)
    return model
