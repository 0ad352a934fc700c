"""The training coach: one line of advice in plain words, read from the curves of a run.

    advice = coach(history.epochs, CoachContext(augmenting=True, lr=1e-3, num_classes=10))
    advice.level  # "info" | "good" | "warning" | "problem"
    advice.text   # "The model is starting to memorise the training pictures: ..."

Rules, first match wins:
0. A frozen pre-trained network that had only random weights (`random_backbone`) -> get its weights:
   nothing else helps, so this comes first (at the end of a run, before the summary).
1. A loss that is NaN or infinite -> lower the learning rate.
2. Fewer than `MIN_EPOCHS` epochs -> wait.
3. Overfitting: the validation loss has risen for a while since its lowest point while the training
   loss kept falling -> augmentation, dropout, early stopping (whichever is not in use yet).
4. A flat training loss (under 1% change over the last 3 epochs) that has not reached a high
   accuracy -> the learning rate (stuck at chance level: too high or far too low; elsewhere: find a
   good one or let a schedule lower it).
5. Training accuracy near 100% -> done, or a large gap to validation (memorising).
6. Losses still falling -> going well.
At the end of a run (`finished`): a summary instead: the best epoch, whether the epochs after it
helped, and what to try next (from the rule above that matched); runs under 3 epochs are told they
are too short to read.
Informational advice adds, for an augmented run whose frozen backbone the feature cache would
otherwise speed up, how much faster it would be with augmentation off (the trainer's measurement).

The thresholds are deliberately loose: the coach speaks only when the curves say something clearly,
since a wrong hint costs a non-expert more than a missing one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MIN_EPOCHS = 3
FLAT_CHANGE = 0.01  # relative change of the training loss over the last 3 epochs
RISE = 0.02  # validation loss this much above its lowest counts as risen
CONVERGED_ACCURACY = 0.99
GAP = 0.15  # training minus validation accuracy that counts as memorising
MIN_CACHE_SPEEDUP = 1.5  # below this, not worth mentioning that augmentation keeps the feature cache off


@dataclass(frozen=True)
class CoachContext:
    """What the coach knows about the run besides its curves (to suggest what is not in use yet)."""

    augmenting: bool = False
    dropout: bool = False
    early_stopping: bool = False
    lr: float | None = None
    num_classes: int | None = None
    finished: bool = False  # the run has ended (as opposed to: still training)
    random_backbone: str = ""  # a frozen pre-trained network (its title) that had only random weights


@dataclass(frozen=True)
class Advice:
    level: str  # "info" | "good" | "warning" | "problem"
    code: str  # "random_weights", "nan", "waiting", "overfitting", "flat", "stuck", "converged", "gap",
    # "improving", "steady",
    # and at the end of a run: "more_epochs", "too_short", "summary"
    text: str


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _series(epochs: Sequence[Mapping[str, Any]], key: str) -> list[float]:
    return [float(e[key]) for e in epochs if e.get(key) is not None]


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " or " + items[-1]


def _lower_lr(lr: float | None) -> str:
    if lr is not None and _finite(lr) and lr > 0:
        return f"Lower the learning rate (try {lr / 10:.2g} instead of {lr:.2g})"
    return "Lower the learning rate (try ten times lower)"


def coach(
    epochs: Sequence[Mapping[str, Any]],
    context: CoachContext | None = None,
    batch_losses: Sequence[float] = (),
) -> Advice:
    """Advice from the epoch logs so far ({loss, accuracy, val_loss, val_accuracy} each), and from
    recent batch losses (to notice a NaN before the epoch ends)."""
    ctx = context or CoachContext()
    values = [e.get(k) for e in epochs for k in ("loss", "val_loss") if e.get(k) is not None]
    if any(not _finite(v) for v in [*values, *batch_losses]):
        return Advice(
            "problem",
            "nan",
            "The loss became NaN (not a number): the steps are too big for this model and the training "
            f"broke down. {_lower_lr(ctx.lr)}, or use 'Find a good learning rate'.",
        )
    if ctx.random_backbone:  # first: no number of epochs or augmentation makes up for it
        title = ctx.random_backbone
        text = (
            f"{title} had no pre-trained weights on this computer, so its frozen layers kept random "
            "weights: this run cannot learn well, whatever the settings. Get its pre-trained weights "
            f"(Model section: the {title} card's “Get the pre-trained weights”), then train again."
        )
        if ctx.finished:
            summary = coach(epochs, CoachContext(**{**ctx.__dict__, "random_backbone": ""}), batch_losses)
            text = f"{text} {summary.text}"
        return Advice("problem", "random_weights", text)
    n = len(epochs)
    if ctx.finished:
        during = coach(epochs, CoachContext(**{**ctx.__dict__, "finished": False}), batch_losses)
        summary = _end_of_run(epochs, ctx, during)
        note = cache_note(epochs)
        if summary.level == "info" and note and note not in summary.text:
            return Advice(summary.level, summary.code, summary.text + note)
        return summary
    if n < MIN_EPOCHS:
        return Advice(
            "info",
            "waiting",
            f"The coach reads the curves once {MIN_EPOCHS} epochs are done ({n} so far).{cache_note(epochs)}",
        )
    loss = _series(epochs, "loss")
    acc = _series(epochs, "accuracy")
    val_loss = _series(epochs, "val_loss") if len(_series(epochs, "val_loss")) == n else []
    val_acc = _series(epochs, "val_accuracy") if len(_series(epochs, "val_accuracy")) == n else []

    advice = _overfitting(loss, val_loss, ctx)
    if advice is not None:
        return advice
    advice = _flat(loss, acc, ctx)
    if advice is not None:
        return advice
    if acc and acc[-1] >= CONVERGED_ACCURACY:
        if val_acc and acc[-1] - val_acc[-1] > GAP:
            return Advice(
                "warning",
                "gap",
                f"The model gets {acc[-1]:.0%} of the training pictures right but only {val_acc[-1]:.0%} of "
                f"the validation pictures: it memorises more than it learns. {_remedies(ctx)} "
                "More pictures help most.",
            )
        end = f" Validation accuracy: {val_acc[-1]:.0%}." if val_acc else ""
        return Advice(
            "good",
            "converged",
            f"Training accuracy is {acc[-1]:.0%}: the model has learnt the training pictures, and more "
            f"epochs will add little.{end}",
        )
    watched = val_loss or loss
    what = "validation loss" if val_loss else "training loss"
    if watched[-1] < min(watched[:-1]):
        if ctx.finished:
            return Advice(
                "info",
                "more_epochs",
                f"The {what} was still falling when the run ended: more epochs would probably help "
                f"(continue this run from the run history).{cache_note(epochs)}",
            )
        return Advice(
            "good", "improving", f"The {what} is still falling: training is going well.{cache_note(epochs)}"
        )
    return Advice(
        "info",
        "steady",
        f"The {what} changed little in the last epoch; one epoch is not a trend, so keep watching."
        f"{cache_note(epochs)}",
    )


def cache_note(epochs: Sequence[Mapping[str, Any]]) -> str:
    """ " With augmentation off ... N times faster" when the trainer measured it (a frozen backbone
    whose features the feature cache would compute once; epoch logs' feature_cache_speedup)."""
    speedups = [e["feature_cache_speedup"] for e in epochs if _finite(e.get("feature_cache_speedup"))]
    if not speedups or speedups[-1] < MIN_CACHE_SPEEDUP:
        return ""
    return (
        f" With augmentation off, each epoch after the first would be about {speedups[-1]:.0f} times "
        "faster (measured on this computer): the frozen layers would run once per picture instead of "
        "every epoch. With few pictures, augmentation may still be worth it."
    )


def _end_of_run(epochs: Sequence[Mapping[str, Any]], ctx: CoachContext, during: Advice) -> Advice:
    """At the end of a run: where the best epoch was, whether the epochs after it helped, what next."""
    n = len(epochs)
    loss = _series(epochs, "loss")
    val_loss = _series(epochs, "val_loss") if len(_series(epochs, "val_loss")) == n else []
    watched = val_loss or (loss if len(loss) == n else [])
    if not watched:
        return during
    what = "validation loss" if val_loss else "training loss"
    best = min(range(n), key=watched.__getitem__)
    head = f"Run summary: the best epoch was {best + 1} of {n} (lowest {what}), the model the run keeps."
    if n < MIN_EPOCHS:
        return Advice(
            "info",
            "too_short",
            f"{head} {n} epoch{'s are' if n != 1 else ' is'} too few to show a trend: train for more "
            "epochs (10 or more to start with) to see whether the model keeps improving.",
        )
    after = n - 1 - best
    if after == 0:
        return Advice(
            "info",
            "more_epochs",
            f"{head} The {what} was still falling when the run ended: more epochs would probably help "
            "(continue this run from the run history).",
        )
    later = f"The {after} epoch{'s' if after != 1 else ''} after it did not improve on it."
    if during.code in ("overfitting", "gap"):
        advice = f"The model memorised the training pictures. Next: {_remedies(ctx)[0].lower()}{_remedies(ctx)[1:]}"
        return Advice("warning", "summary", f"{head} {later} {advice}")
    if during.code in ("flat", "stuck"):
        return Advice("warning", "summary", f"{head} {later} {during.text}")
    if during.code == "converged":
        return Advice(
            "good",
            "summary",
            f"{head} {later} The model has learnt the training pictures. To do better, add pictures "
            "(of the classes it confuses most, see Evaluate) or try a pre-trained model.",
        )
    stop = (
        " or turn on early stopping, which ends a run once it stops improving"
        if not ctx.early_stopping
        else ""
    )
    return Advice(
        "info",
        "summary",
        f"{head} {later} Next time about {best + 2} epochs are enough{stop}; to do better, add "
        "pictures or try augmentation or a pre-trained model.",
    )


def _remedies(ctx: CoachContext) -> str:
    """Suggestions against memorising, leaving out what is already in use."""
    items = []
    if not ctx.augmenting:
        items.append("turn on augmentation (random changes to the pictures)")
    else:
        items.append("make the augmentation stronger")
    if not ctx.dropout:
        items.append("add a Dropout layer before the last Dense layer (Model section)")
    if not ctx.early_stopping:
        items.append("turn on early stopping, which keeps the best epoch")
    text = _join(items)
    return text[0].upper() + text[1:] + "."


def _overfitting(loss: list[float], val_loss: list[float], ctx: CoachContext) -> Advice | None:
    if len(val_loss) < MIN_EPOCHS + 1:
        return None
    best = min(range(len(val_loss)), key=val_loss.__getitem__)
    since = len(val_loss) - 1 - best
    risen = val_loss[-1] > val_loss[best] * (1 + RISE) + 1e-12
    rising = val_loss[-1] >= val_loss[-2] or val_loss[-1] > val_loss[-3]
    falling = loss[-1] < loss[best]
    if since < 2 or not (risen and rising and falling):
        return None
    tail = " Early stopping will end the run soon and keep the best weights." if ctx.early_stopping else ""
    return Advice(
        "warning",
        "overfitting",
        f"The model is starting to memorise the training pictures: the validation loss has risen for "
        f"{since} epochs (lowest at epoch {best + 1}) while the training loss keeps falling. "
        f"{_remedies(ctx)}{tail}",
    )


def _flat(loss: list[float], acc: list[float], ctx: CoachContext) -> Advice | None:
    if len(loss) < MIN_EPOCHS:
        return None
    before, now = loss[-3], loss[-1]
    change = abs(before - now) / max(abs(before), 1e-12)
    if change >= FLAT_CHANGE or (acc and acc[-1] >= 0.95):
        return None
    chance = math.log(ctx.num_classes) if ctx.num_classes and ctx.num_classes > 1 else None
    if chance is not None and abs(now - chance) <= 0.1 * chance:
        return Advice(
            "warning",
            "stuck",
            f"The training loss is stuck near {now:.2f}, where a model that guesses at random starts: "
            "it is not learning. The learning rate is probably far too high or far too low; use "
            "'Find a good learning rate'.",
        )
    return Advice(
        "warning",
        "flat",
        f"The training loss has barely moved for 2 epochs (now {now:.3f}). The learning rate may be "
        "too low to make progress, or too high to settle: use 'Find a good learning rate', or choose "
        "a schedule that lowers it over time (cosine).",
    )
