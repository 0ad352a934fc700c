"""Pre-trained weights on hand: the catalogue of torchvision's ImageNet files for the backbone
templates, fetching one (from torchvision's server, a mirror or a folder) with resume and the
SHA-256 prefix check, and importing a file the user already has. Nothing here connects to the
network unless fetch() is called.
"""

from cnnstudio.core.weights.catalogue import (
    ENV_SOURCE,
    WeightsEntry,
    catalogue,
    entry,
    list_weights,
    random_frozen_backbones,
)
from cnnstudio.core.weights.fetch import FetchCancelled, fetch
from cnnstudio.core.weights.importer import import_weights

__all__ = [
    "ENV_SOURCE",
    "FetchCancelled",
    "WeightsEntry",
    "catalogue",
    "entry",
    "fetch",
    "import_weights",
    "list_weights",
    "random_frozen_backbones",
]
