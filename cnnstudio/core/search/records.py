"""What a study's trials look like to the rest of the app: `TrialRecord` (made from Optuna's trials),
and the `SearchEvent`s a running search reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Optuna's state names -> ours. "interrupted": stopped by the person or killed; redone on resume.
STATE_WORDS = {
    "complete": "finished",
    "pruned": "pruned (stopped early: clearly worse)",
    "failed": "failed",
    "interrupted": "interrupted (will be redone)",
    "running": "running",
    "waiting": "waiting",
}


@dataclass
class TrialRecord:
    number: int  # 0, 1, 2, ... in the order trials started
    state: str  # "complete" | "pruned" | "failed" | "interrupted" | "running" | "waiting"
    value: float | None  # the metric on the validation images (complete trials)
    params: dict[str, Any]
    run: str | None = None  # the run folder's name under runs/
    epochs_done: int = 0
    seconds: float | None = None
    started: str | None = None  # ISO time
    message: str = ""
    intermediate: dict[int, float] = field(default_factory=dict)  # epochs done -> the metric then

    @property
    def last_value(self) -> float | None:
        """The final value, or the last value reported before the trial stopped."""
        if self.value is not None:
            return self.value
        if self.intermediate:
            return self.intermediate[max(self.intermediate)]
        return None

    @property
    def state_words(self) -> str:
        return STATE_WORDS.get(self.state, self.state)

    @property
    def counts_as_done(self) -> bool:
        """Used up a trial of the budget (interrupted trials are redone, so they do not)."""
        return self.state in ("complete", "pruned", "failed")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["intermediate"] = {str(k): v for k, v in self.intermediate.items()}
        return data


def record_from_trial(trial) -> TrialRecord:
    """A TrialRecord from an optuna FrozenTrial."""
    from optuna.trial import TrialState

    attrs = trial.user_attrs
    state = {
        TrialState.COMPLETE: "complete",
        TrialState.PRUNED: "pruned",
        TrialState.FAIL: "failed",
        TrialState.RUNNING: "running",
        TrialState.WAITING: "waiting",
    }[trial.state]
    if state == "failed" and attrs.get("interrupted"):
        state = "interrupted"
    seconds = None
    if trial.datetime_start is not None and trial.datetime_complete is not None:
        seconds = (trial.datetime_complete - trial.datetime_start).total_seconds()
    intermediate = {int(k): float(v) for k, v in trial.intermediate_values.items()}
    return TrialRecord(
        number=trial.number,
        state=state,
        value=float(trial.value) if state == "complete" and trial.value is not None else None,
        params=dict(trial.params),
        run=attrs.get("run"),
        epochs_done=len(intermediate),  # one value reported per epoch trained
        seconds=seconds,
        started=trial.datetime_start.isoformat(timespec="seconds") if trial.datetime_start else None,
        message=str(attrs.get("message", "")),
        intermediate=intermediate,
    )


@dataclass
class SearchEvent:
    """What `Search.run` reports while it works, through `on_event(event)`.

    kind: "trial_started" (trial, params), "epoch" (trial, epoch, value), "trial_finished" (record),
    "message" (text).
    """

    kind: str
    trial: int | None = None
    epoch: int | None = None
    value: float | None = None
    params: dict[str, Any] = field(default_factory=dict)
    record: TrialRecord | None = None
    text: str = ""
