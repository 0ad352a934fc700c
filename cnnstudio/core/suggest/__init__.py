"""Model-assisted labelling: a run proposes a label for each unlabelled picture, the person confirms.

- `predict_for_run(run_dir, paths, cache_dir)`: the one place a run's (calibrated probabilities,
  "unknown" flags) for a list of pictures come from.
- `suggest(project)`: a suggestion for every unlabelled picture, ordered useful-first
  (`order_useful_first`: smallest margin between the top two probabilities first, taken round-robin
  over the predicted classes so that the first pictures are not all of one class).
- `accept_suggestions(editor, suggestions, above, source=BULK|CONFIRMED)`: a LabelEdit that records
  the labels as accepted suggestions (undoable like every label edit; listed by `accepted_paths`).
  `accept_all_above` is the one rule of accepting in bulk (never a picture flagged unknown); pictures
  accepted in bulk train and never grade a model (core.dataset.split.split_suggestions), those
  confirmed one by one are people's labels.
- `training_label_errors(project, run_dir)`: likely label errors among the training pictures, from
  out-of-sample probabilities by k-fold cross-validation (`out_of_sample_probabilities`).
"""

from cnnstudio.core.dataset.split import BULK, CONFIRMED
from cnnstudio.core.suggest.label_errors import (
    DEFAULT_FOLDS,
    LabelErrorReport,
    fit_fold,
    out_of_sample_probabilities,
    training_label_errors,
)
from cnnstudio.core.suggest.retrain import RetrainProposal, retrain_proposal
from cnnstudio.core.suggest.suggestions import (
    Predictions,
    Suggestion,
    SuggestionSet,
    accept_all_above,
    accept_suggestions,
    accepted_paths,
    order_useful_first,
    predict_for_run,
    suggest,
)

__all__ = [
    "BULK",
    "CONFIRMED",
    "DEFAULT_FOLDS",
    "LabelErrorReport",
    "Predictions",
    "RetrainProposal",
    "Suggestion",
    "SuggestionSet",
    "accept_all_above",
    "accept_suggestions",
    "accepted_paths",
    "fit_fold",
    "order_useful_first",
    "out_of_sample_probabilities",
    "predict_for_run",
    "retrain_proposal",
    "suggest",
    "training_label_errors",
]
