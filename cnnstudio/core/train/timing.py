"""How long one epoch of a design takes on this computer, measured, not guessed.

`estimate_epoch_time()` builds the model and times a few real training steps (the trainer's own
step: augmentation, forward under the precision the trainer would use, loss, backward, optimizer
step) on random pictures of the design's input size and the run's batch size, after a warm-up
(the first steps pay for memory allocation and kernel selection). A validation pass is timed the
same way. The epoch estimate is the train and validation batches of the current dataset at those
speeds; reading the decoded pictures from the cache is left out (it is small next to the steps).

It lives in core.train because it runs the trainer's own step (core.spec never imports core.train).
torch and the torch-using training modules are imported inside the function, so importing this
module (the designer's timing worker names it) stays light.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cnnstudio.core.errors import UserError
from cnnstudio.core.spec.backbones import Backbone
from cnnstudio.core.spec.model_spec import ModelSpec
from cnnstudio.core.train.config import TrainConfig


class TimingStopped(Exception):
    """should_stop() answered True: the measurement was abandoned (the design changed meanwhile)."""


@dataclass(frozen=True)
class EpochTiming:
    """Measured speeds and the epoch they make. Seconds are wall-clock on this computer."""

    seconds_per_batch: float  # one training step at `batch_size`
    images_per_second: float  # training images per second
    seconds_per_epoch: float  # train + validation of `train_images` + `val_images`
    train_images: int
    val_images: int
    batch_size: int
    device: str  # "cpu", "cuda", ...
    precision: str  # the trainer's precision plan, e.g. "bf16 mixed (CPU has AVX512-BF16)"
    steps: int  # timed training steps (after the warm-up)
    val_seconds_per_image: float = 0.0  # the validation pass, per image (0 when not measured)

    def for_dataset(self, train_images: int, val_images: int) -> EpochTiming:
        """The same speeds for another dataset size (no new measurement). A validation pass that
        was not measured is taken as a third of a training step per image (forward only)."""
        val_per_image = self.val_seconds_per_image or self.seconds_per_batch / self.batch_size / 3
        return dataclasses.replace(
            self,
            train_images=train_images,
            val_images=val_images,
            seconds_per_epoch=self.seconds_per_batch * train_images / self.batch_size
            + val_per_image * val_images,
        )

    def describe(self, per_epoch: bool = True) -> str:
        """ "about 12 s per epoch (830 images/s on this computer)"; without a dataset
        (per_epoch False) the time per 1,000 images."""
        speed = f"{format_rate(self.images_per_second)} images/s on this computer"
        if per_epoch:
            return f"about {format_duration(self.seconds_per_epoch)} per epoch ({speed})"
        return f"about {format_duration(1000 / self.images_per_second)} per 1,000 images ({speed})"


def format_rate(rate: float) -> str:
    if rate >= 100:
        return f"{rate:,.0f}"
    if rate >= 10:
        return f"{rate:.0f}"
    return f"{rate:.1f}"


def format_duration(seconds: float) -> str:
    """12 -> '12 s'; 0.42 -> '0.4 s'; 200 -> '3 min 20 s'; 4000 -> '1 h 7 min'."""
    if seconds < 10:
        return f"{max(seconds, 0.1):.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes} min" + (f" {rest} s" if rest and minutes < 10 else "")
    hours, rest = divmod(round(seconds / 60), 60)
    return f"{hours} h" + (f" {rest} min" if rest else "")


def estimate_epoch_time(
    spec: ModelSpec,
    num_classes: int,
    *,
    train_images: int,
    val_images: int = 0,
    config: TrainConfig | dict[str, Any] | None = None,
    batch_size: int | None = None,
    warmup_steps: int = 2,
    min_steps: int = 3,
    max_steps: int = 20,
    max_seconds: float = 3.0,
    measure_validation: bool | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> EpochTiming:
    """Time `spec`'s training on this computer; see the module's docstring.

    `config`: the run's training settings (batch size, optimizer, augmentation, device,
    precision); default TrainConfig(). `batch_size` overrides the config's. The validation pass
    is timed when `measure_validation` (default: when there are `val_images`). After `warmup_steps`,
    training steps are timed until `min_steps` have run and `max_seconds` have passed (or
    `max_steps`). `should_stop()` is asked between steps; True raises TimingStopped. UserError
    when the design does not work or does not fit in memory.
    """
    import torch

    from cnnstudio.core.spec.builder import build_model
    from cnnstudio.core.train.device import configure_threads, resolve_device, resolve_precision
    from cnnstudio.core.train.memory_format import use_channels_last
    from cnnstudio.core.train.optim import build_optimizer, trainable_parameters
    from cnnstudio.core.train.step import TrainStep, prepare_input

    if isinstance(config, dict):
        config = TrainConfig.from_dict(config)
    config = config or TrainConfig()
    batch = max(1, min(int(batch_size or config.batch_size), max(1, train_images)))
    stop = should_stop or (lambda: False)

    def check_stop() -> None:
        if stop():
            raise TimingStopped()

    configure_threads()
    device = resolve_device(config.device)
    plan = resolve_precision(config.precision, device)
    # The weights do not change the speed: random ones spare reading a weights file.
    spec = spec.with_layers(
        [layer.replace(weights="random") if isinstance(layer, Backbone) else layer for layer in spec.layers]
    )
    model = build_model(spec, num_classes).to(device)
    if plan.channels_last:
        use_channels_last(model)  # the layout the trainer uses, so the estimate times the same work
    preprocessing = spec.preprocessing()
    params = trainable_parameters(model)
    generator = torch.Generator(device="cpu").manual_seed(0)
    shape = (spec.input.channels, spec.input.height, spec.input.width)

    def pictures(n: int) -> tuple[torch.Tensor, torch.Tensor]:
        x = torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=generator).to(device)
        y = torch.randint(0, num_classes, (n,), generator=generator).to(device)
        return x, y

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    try:
        step = None
        if params:  # a fully frozen model does not train; its epoch is the forward passes alone
            optimizer = build_optimizer(params, config)
            step = TrainStep(
                model,
                optimizer,
                preprocessing=preprocessing,
                plan=plan,
                device=device,
                augment=config.augment,
                generator=torch.Generator(device=device).manual_seed(0),
                loss_fn=torch.nn.CrossEntropyLoss(),
                scaler=torch.amp.GradScaler(device.type) if plan.grad_scaler else None,
            )
        model.train()
        xb, yb = pictures(batch)

        def train_once() -> None:
            if step is not None:
                step(xb, yb)
            else:
                with torch.no_grad():
                    model(prepare_input(xb, preprocessing, plan))

        for _ in range(warmup_steps):
            check_stop()
            train_once()
        sync()
        steps, started = 0, time.perf_counter()
        while steps < max_steps and (steps < min_steps or time.perf_counter() - started < max_seconds):
            check_stop()
            train_once()
            steps += 1
        sync()
        per_batch = (time.perf_counter() - started) / steps

        val_per_image = 0.0
        if measure_validation or (measure_validation is None and val_images > 0):
            val_per_image = _time_validation(model, pictures, config, preprocessing, plan, sync, check_stop)
    except torch.OutOfMemoryError as exc:
        raise UserError(
            f"Not enough memory to train this design with batch size {batch}: "
            "use a smaller batch size, a smaller picture size or fewer filters."
        ) from exc
    except RuntimeError as exc:
        if "out of memory" not in str(exc).lower() and "can't allocate" not in str(exc).lower():
            raise
        raise UserError(
            f"Not enough memory to train this design with batch size {batch}: "
            "use a smaller batch size, a smaller picture size or fewer filters."
        ) from exc

    train_seconds = per_batch * train_images / batch  # the last, smaller batch takes proportionally less
    return EpochTiming(
        seconds_per_batch=per_batch,
        images_per_second=batch / per_batch,
        seconds_per_epoch=train_seconds + val_per_image * val_images,
        train_images=train_images,
        val_images=val_images,
        batch_size=batch,
        device=device.type,
        precision=plan.label,
        steps=steps,
        val_seconds_per_image=val_per_image,
    )


def _time_validation(model, pictures, config, preprocessing, plan, sync, check_stop) -> float:
    """Seconds per image of the validation pass, run as the trainer runs it (bigger batches)."""
    import torch

    from cnnstudio.core.train.step import prepare_input

    batch = max(64, config.batch_size * 2)
    xb, _ = pictures(batch)
    model.eval()
    with torch.inference_mode():
        check_stop()
        model(prepare_input(xb, preprocessing, plan))  # warm-up
        sync()
        started = time.perf_counter()
        runs = 2
        for _ in range(runs):
            check_stop()
            model(prepare_input(xb, preprocessing, plan))
        sync()
    model.train()
    return (time.perf_counter() - started) / runs / batch
