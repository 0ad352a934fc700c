"""Which epoch's model a run keeps, in words (Qt-free).

The run keeps best.safetensors: the epoch with the best monitored value (lowest validation loss by
default), which is the model Evaluate, Predict and the exports use. The epoch with the highest
validation accuracy can be another one; saying the kept model's accuracy makes the Train section and
Evaluate show the same number, and the other epoch is named so the difference is explained.
"""

from __future__ import annotations

from typing import Any

from cnnstudio.core.runs.records import kept_epoch_logs

MONITOR_WORDS = {
    "val_loss": "lowest validation loss",
    "val_accuracy": "highest validation accuracy",
    "loss": "lowest training loss",
    "accuracy": "highest training accuracy",
}


def kept_model_words(epoch_logs: list[dict], history: Any) -> list[str]:
    """Sentences for the end-of-run summary: the kept model's validation accuracy (the number Evaluate
    shows on the validation pictures) and, when it differs, the epoch with the highest one."""
    with_val = [e for e in epoch_logs if e.get("val_accuracy") is not None]
    if not with_val:
        return []
    best_epoch = getattr(history, "best_epoch", None)
    kept = kept_epoch_logs(with_val, best_epoch)
    top = max(with_val, key=lambda e: e["val_accuracy"])
    if kept is None:
        return [f"Best validation accuracy: {top['val_accuracy']:.1%} (epoch {top['epoch'] + 1})."]
    rule = MONITOR_WORDS.get(getattr(history, "monitor", "") or "val_loss", "best monitored value")
    words = [
        f"Validation accuracy of the kept model: {kept['val_accuracy']:.1%} "
        f"(epoch {kept['epoch'] + 1}, chosen for its {rule}; Evaluate and exports use this model)."
    ]
    if top["val_accuracy"] > kept["val_accuracy"] and top is not kept:
        words.append(
            f"Epoch {top['epoch'] + 1} scored higher ({top['val_accuracy']:.1%}) but was less sure of its "
            "answers (higher validation loss), so it was not kept."
            if rule == "lowest validation loss"
            else f"Epoch {top['epoch'] + 1} scored higher ({top['val_accuracy']:.1%}) but was not kept."
        )
    return words
