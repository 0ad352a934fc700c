"""Hyperparameter search: what varies (space), how it runs (settings), the study itself (study).

from cnnstudio.core.search import Search, SearchSettings, SearchSpace
space = SearchSpace.from_dict({"learning_rate": {"min": 1e-4, "max": 1e-2}, "batch_size": [16, 32, 64]})
search = Search.open(project, "first", settings=SearchSettings(space=space, strategy="random", epochs=5))
summary = search.run(trials=20)            # each trial an ordinary run under runs/
spec, config = search.best_settings()      # or search.use_best_settings() to make them the project's

Importing this package imports neither torch nor optuna; they load when a study is opened.
"""

from cnnstudio.core.search.records import STATE_WORDS, SearchEvent, TrialRecord
from cnnstudio.core.search.settings import METRICS, PRUNING, STRATEGIES, Metric, SearchSettings
from cnnstudio.core.search.space import (
    PARAMS,
    Param,
    ParamInfo,
    SearchSpace,
    apply_params,
    default_space,
    make_param,
)
from cnnstudio.core.search.storage import list_studies, next_study_name, search_dir, study_name_ok
from cnnstudio.core.search.study import DEFAULT_TRIALS, Search, SearchSummary
from cnnstudio.core.search.trial import trial_settings

__all__ = [
    "DEFAULT_TRIALS",
    "METRICS",
    "PARAMS",
    "PRUNING",
    "STATE_WORDS",
    "STRATEGIES",
    "Metric",
    "Param",
    "ParamInfo",
    "Search",
    "SearchEvent",
    "SearchSettings",
    "SearchSpace",
    "SearchSummary",
    "TrialRecord",
    "apply_params",
    "default_space",
    "list_studies",
    "make_param",
    "next_study_name",
    "search_dir",
    "study_name_ok",
    "trial_settings",
]
