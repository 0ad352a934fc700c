"""Which process runs which trial, and what becomes of trials whose process is gone.

Several processes (and computers) may run one study. Each names itself on the trials it runs (the
user attribute "owner": pid and host), right after Optuna makes the trial. When a search starts,
`recover` fails the trials left "running" by a process on this computer that has ended, marks them
interrupted, and queues every interrupted trial once more. A running trial with no name yet is
another process's, made a moment ago, and is left alone unless it has gone unnamed for 10 minutes.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from cnnstudio.core.runs import other_computer, training_alive

_live_trials: set[tuple[str, int]] = set()  # (database, trial number) running in this process
_live_lock = threading.Lock()
# A trial is named by its process right after it is made; one still unnamed after this long lost
# its process in between.
UNNAMED_TRIAL_SECONDS = 600


@contextmanager
def running(location: str, trial) -> Iterator[None]:
    """While the block runs, `trial` of the study at `location` is this process's, and says so."""
    key = (location, trial.number)
    with _live_lock:
        _live_trials.add(key)
    try:
        trial.set_user_attr("owner", {"pid": os.getpid(), "host": socket.gethostname()})
        yield
    finally:
        with _live_lock:
            _live_trials.discard(key)


def _just_made(started: datetime | None) -> bool:
    """Whether a trial made at `started` (Optuna's local time) may still be waiting for its name."""
    if started is None:
        return False
    age = datetime.now(started.tzinfo) - started  # Optuna's storages give local time without a zone
    return age.total_seconds() <= UNNAMED_TRIAL_SECONDS


def _orphaned(location: str, trial) -> bool:
    owner = trial.user_attrs.get("owner")
    if owner is None:
        # Another process has just made this trial and is about to name itself (its next write):
        # failing it now would leave that process unable to write the trial's result.
        return not _just_made(trial.datetime_start)
    if other_computer(owner):
        return False  # another computer's trial: it may well be alive
    with _live_lock:
        live = (location, trial.number) in _live_trials
    return not training_alive(owner, own=live)  # its pid on this computer, as a run's state.json


def recover(study, storage, location: str) -> int:
    """Trials left running by a process that is gone become interrupted; interrupted trials (also
    those stopped by the person) are queued again, once. Returns how many were queued."""
    from optuna.trial import TrialState

    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if _orphaned(location, t):
            storage.set_trial_user_attr(t._trial_id, "interrupted", True)
            storage.set_trial_user_attr(t._trial_id, "message", "Interrupted (the program ended); redone.")
            storage.set_trial_state_values(t._trial_id, TrialState.FAIL)
    # A finished trial cannot be changed any more: its redo carries "retry_of" instead.
    trials = study.get_trials(deepcopy=False)
    redone = {t.user_attrs.get("retry_of") for t in trials}
    queued = 0
    for t in trials:
        if t.state == TrialState.FAIL and t.user_attrs.get("interrupted") and t.number not in redone:
            study.enqueue_trial(dict(t.params), user_attrs={"retry_of": t.number})
            queued += 1
    return queued
