"""Two Gloo CPU processes started by torchrun train with the real Trainer: after their steps they hold
identical weights, and the weights match one process trained on the same global batches (DDP averages
the gradients). The same comparison catches a DDP that sums instead of averaging, so it can tell."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="Gloo on Windows is not what we ship")

# One epoch of 8 pictures twice over: every step's batch is all 8 pictures, 4 per process with 2
# processes, so the single process sees the same global batch at every step.
SCRIPT = """
import sys

import numpy as np
import torch

from cnnstudio.core.spec import ModelSpec
from cnnstudio.core.train import TrainConfig, Trainer, distributed
from cnnstudio.core.train.config import AugmentConfig

out, mode = sys.argv[1], sys.argv[2]
env = distributed.from_env()
device = distributed.setup(env, "cpu") if env else "cpu"
if env and mode != "mean":
    real = distributed.wrap_model

    def sum_hook(_state, bucket):  # all-reduce without dividing by the world size
        work = torch.distributed.all_reduce(bucket.buffer(), async_op=True)
        return work.get_future().then(lambda fut: fut.value()[0])

    def broken(model, dev):
        ddp = real(model, dev)
        ddp.register_comm_hook(None, sum_hook)
        return ddp

    distributed.wrap_model = broken
spec = ModelSpec.from_dict({"name": "small", "layers": [
    {"type": "Input", "height": 16, "width": 16, "channels": 3, "fit": "stretch"},
    {"type": "Conv2D", "filters": 4, "kernel_size": 3, "activation": "relu"},
    {"type": "MaxPooling2D", "pool_size": 2},
    {"type": "Flatten"},
    {"type": "Dense", "units": 16, "activation": "relu"},
    {"type": "Dense", "units": "auto", "activation": "softmax"},
]})
rng = np.random.default_rng(0)
X = rng.integers(0, 256, (8, 3, 16, 16), dtype=np.uint8)
y = (np.arange(8) % 3).astype(np.int64)
world = env.world_size if env else 1
config = TrainConfig(
    optimizer="sgd", lr=0.5, momentum=0.0, batch_size=8 // world, epochs=2, seed=0,
    device="cpu" if env is None else "auto", precision="full", augment=AugmentConfig.none(),
    early_stopping=False,
)
trainer = Trainer(spec, config, class_names=["a", "b", "c"], preprocessing=spec.preprocessing())
rank = env.rank if env else 0


def save(name):
    np.savez(f"{out}/{name}.npz", **{k: v.detach().cpu().numpy() for k, v in trainer.model.state_dict().items()})


save(f"initial{rank}")
trainer.fit((X, y))
save(f"rank{rank}")
if env:
    distributed.barrier()  # leave the group together, as the app does (else Gloo may abort one)
    distributed.teardown()
"""


def _weights(folder: Path, name: str) -> dict[str, np.ndarray]:
    with np.load(folder / f"{name}.npz") as data:
        return {k: data[k] for k in data.files}


def _train(tmp_path: Path, name: str, processes: int, mode: str = "mean") -> Path:
    out = tmp_path / name
    out.mkdir()
    script = tmp_path / "step.py"
    script.write_text(SCRIPT, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    for key in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(key, None)
    if processes == 1:
        argv = [sys.executable, str(script), str(out), mode]
    else:
        argv = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
                str(processes), str(script), str(out), mode]  # fmt: skip
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, _why(done.stderr)
    return out


def _why(stderr: str) -> str:
    """What a failed process printed: torchrun's summary at the end hides the process's own words
    (a Python traceback, or C++'s "terminate called after throwing ...") above it."""
    own = [line for line in stderr.splitlines() if "Error" in line or "terminate" in line or "what()" in line]
    return "\n".join(own[:40]) + "\n...\n" + stderr[-1500:]


def _step_error(single: dict, trained: dict, initial: dict) -> float:
    """How far `trained` is from `single`, as a share of how far training moved the weights."""
    moved = sum(float(np.sum((single[k] - initial[k]) ** 2)) for k in single) ** 0.5
    apart = sum(float(np.sum((single[k] - trained[k]) ** 2)) for k in single) ** 0.5
    return apart / moved


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ddp-step")
    one = _train(tmp, "single", 1)
    two = _train(tmp, "two", 2)
    return tmp, _weights(one, "initial0"), _weights(one, "rank0"), two


def test_two_processes_hold_identical_weights_that_match_one_process(runs):
    _tmp, initial, single, two = runs
    for r in (0, 1):  # every process started from the same weights as the single one
        start = _weights(two, f"initial{r}")
        assert all(np.array_equal(start[k], initial[k]) for k in initial)
    rank0, rank1 = _weights(two, "rank0"), _weights(two, "rank1")
    assert set(rank0) == set(single)
    for k in single:
        np.testing.assert_array_equal(rank0[k], rank1[k])  # the same weights in both processes
        np.testing.assert_allclose(rank0[k], single[k], rtol=0, atol=1e-5, err_msg=k)
    assert _step_error(single, rank0, initial) < 1e-4  # float rounding, nothing more


def test_the_comparison_catches_a_ddp_that_does_not_average(runs):
    """A sum instead of an average doubles every step: it misses the match by far.
    (benchmarks/bench_ddp.py --break-averaging sum|alone shows its gate catching both that and a DDP
    that does not communicate at all.)"""
    tmp, initial, single, _two = runs
    summed = _train(tmp, "sum", 2, "sum")
    s0, s1 = _weights(summed, "rank0"), _weights(summed, "rank1")
    assert all(np.array_equal(s0[k], s1[k]) for k in s0)  # identical weights alone prove nothing
    assert _step_error(single, s0, initial) > 0.1
