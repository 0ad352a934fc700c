"""The few things training needs from `cnnstudio.core.spec`, imported lazily.

The trainer also trains a plain `torch.nn.Module` (tests, scripts); only a run made from a
ModelSpec can be rebuilt from its folder alone.
"""

from __future__ import annotations

from typing import Any

import torch


def is_spec(obj: Any) -> bool:
    return not isinstance(obj, torch.nn.Module) and (isinstance(obj, dict) or hasattr(obj, "to_dict"))


def build_from_spec(spec: Any, num_classes: int) -> tuple[torch.nn.Module, Any, dict[str, Any]]:
    """(model, ModelSpec, spec dict) for a ModelSpec or its dict."""
    from cnnstudio.core.spec import ModelSpec, build_model

    if isinstance(spec, dict):
        spec = ModelSpec.from_dict(spec)
    return build_model(spec, num_classes), spec, spec.to_dict()


def preprocessing_from_dict(data: dict[str, Any]) -> Any:
    from cnnstudio.core.spec import Preprocessing

    return Preprocessing.from_dict(data)


def regularization_of(model: torch.nn.Module):
    """The spec's L1/L2 penalty as a function of the model, or None when it is always zero.

    A model without penalties gives a constant zero (no gradient), which we skip every batch.
    Errors computing the penalty are raised, never swallowed (the user asked for that penalty).
    """
    from cnnstudio.core.spec import regularization_loss

    # Any model is accepted (one without penalties gives zero); an error here is a real defect in the
    # design's penalties and surfaces with its reason instead of training silently without them.
    penalty = regularization_loss(model)
    if not isinstance(penalty, torch.Tensor) or not penalty.requires_grad:
        return None
    return regularization_loss
