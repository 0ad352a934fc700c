"""Pre-trained weights on hand: the catalogue of torchvision's ImageNet files for the backbone
templates, fetching one (from torchvision's server over https, a mirror or a folder) with resume
and the SHA-256 prefix check, and importing a file the user already has into the app's own folder
with its provenance (store.py, which also remembers which official files passed the hash check).
Nothing here connects to the network unless fetch() is called. Names are imported on first use: the catalogue and fetching need
no torch (`cnnstudio weights list`, the Model section's first paint); importing does.
"""

from cnnstudio.core.lazy import lazy_exports

_HOMES = {
    "ENV_SOURCE": "entries",
    "WeightsEntry": "entries",
    "catalogue": "entries",
    "entry": "entries",
    "list_weights": "entries",
    "random_frozen_backbones": "entries",
    "FetchCancelled": "download",
    "fetch": "download",
    "import_weights": "importer",
}
__all__ = list(_HOMES)

__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
