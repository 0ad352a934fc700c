"""Choosing an ensemble's weights on the validation pictures: greedy ensemble selection with
replacement (Caruana, Niculescu-Mizil, Crew and Ksikes, "Ensemble Selection from Libraries of
Models", ICML 2004).

Start from the best single run; then, round after round, add (again, if it helps most) the run whose
addition makes the average of the chosen runs' probabilities score best on the validation pictures.
A run's weight is how often it was chosen. Of all the rounds, the best-scoring one is kept, so the
ensemble is never worse on the validation pictures than its best run (the first round is that run
alone); a run that only makes things worse is never chosen and gets weight 0.

The score is accuracy, ties broken by the mean negative log-likelihood (lower is better). Pure numpy.
"""

from __future__ import annotations

import numpy as np

ROUNDS = 25  # weights in steps of 1/25 at the finest; with a handful of runs the choice settles sooner


def score(probs: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(accuracy, -mean NLL) of averaged probabilities `probs` (N, C) for labels `y`: higher is better."""
    accuracy = float(np.mean(probs.argmax(1) == y))
    picked = np.clip(probs[np.arange(len(y)), y], 1e-12, None)
    return accuracy, float(np.mean(np.log(picked)))


def greedy_counts(member_probs: list[np.ndarray], y: np.ndarray, rounds: int = ROUNDS) -> list[int]:
    """How often each member is chosen (see the module docstring); at least one count is non-zero."""
    if not member_probs:
        raise ValueError("no members to choose from")
    probs = [np.asarray(p, dtype=np.float64) for p in member_probs]
    y = np.asarray(y)
    singles = [score(p, y) for p in probs]
    first = max(range(len(probs)), key=lambda i: singles[i])  # the best run; ties: the first named
    counts = [0] * len(probs)
    counts[first] = 1
    total, chosen = probs[first].copy(), 1
    best, best_counts = singles[first], list(counts)
    for _ in range(rounds - 1):
        candidates = [score((total + p) / (chosen + 1), y) for p in probs]
        pick = max(range(len(probs)), key=lambda i: candidates[i])
        total += probs[pick]
        chosen += 1
        counts[pick] += 1
        if candidates[pick] > best:  # strictly better: the fewest rounds that reach the best score
            best, best_counts = candidates[pick], list(counts)
    return best_counts


def greedy_weights(member_probs: list[np.ndarray], y: np.ndarray, rounds: int = ROUNDS) -> list[float]:
    """The members' weights (adding up to 1) chosen by greedy ensemble selection on (probs, y)."""
    counts = greedy_counts(member_probs, y, rounds)
    total = sum(counts)
    return [c / total for c in counts]
