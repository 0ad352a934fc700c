"""Which pre-trained file each backbone template uses, where it comes from and where it lives.

Official files live in torch's own hub checkpoints folder (torch.hub.get_dir()/checkpoints), so
torchvision and the app share one copy, and are trusted once their SHA-256 matches their name; a
standalone app also looks in the `weights` folder bundled with it. Imported files live in the app's
own folder with their provenance (store.py) and take precedence for the templates.
Names are the template names (`cnnstudio weights get mobilenet-v3-small`). Importing this module
imports no torch and makes no connection.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cnnstudio.core.errors import UserError
from cnnstudio.core.spec.backbones import (
    BACKBONES,
    Backbone,
    backbone_weights_available,
    imagenet_weights_path,
    official_weights_available,
    weights_origin,
)
from cnnstudio.core.weights import store
from cnnstudio.core.weights.store import HASH_REGEX

OFFICIAL_BASE = "https://download.pytorch.org/models/"
ENV_SOURCE = "CNNSTUDIO_WEIGHTS_FROM"  # a mirror URL base or a folder holding the same file names

# template name -> torchvision architecture, in the app's order
TEMPLATE_ARCH = {
    "resnet18": "resnet18",
    "mobilenet-v3-small": "mobilenet_v3_small",
    "efficientnet-b0": "efficientnet_b0",
}
# torchvision's weight meta "_file_size" (MB) of each file; tests check it against torchvision.
FILE_MB = {"resnet18": 44.661, "mobilenet_v3_small": 9.829, "efficientnet_b0": 20.451}


@dataclass(frozen=True)
class WeightsEntry:
    name: str  # the template name
    arch: str  # torchvision's function name
    file_name: str  # torchvision's official file name, carrying its SHA-256 prefix

    @property
    def title(self) -> str:
        return BACKBONES[self.arch].title

    @property
    def url(self) -> str:
        return OFFICIAL_BASE + self.file_name

    @property
    def sha256_prefix(self) -> str:
        match = HASH_REGEX.search(self.file_name)
        return match.group(1) if match else ""

    @property
    def expected_bytes(self) -> int:
        return round(FILE_MB[self.arch] * 1_000_000)

    @property
    def megabytes(self) -> int:
        return max(1, round(self.expected_bytes / 1_000_000))

    @property
    def target(self) -> Path:
        """Where the file goes: torch's hub checkpoints folder."""
        return imagenet_weights_path(self.arch)

    @property
    def present(self) -> Path | None:
        """The file the template's "imagenet" weights come from: imported, or the checked official."""
        return backbone_weights_available(self.arch)

    @property
    def official(self) -> Path | None:
        """torchvision's official file, when here and its SHA-256 matches its name."""
        return official_weights_available(self.arch)

    @property
    def imported(self) -> store.ImportRecord | None:
        return store.imported(self.arch)

    @property
    def origin(self) -> str:
        """ "pre-trained on ImageNet", "imported from FILE" or "random weights"."""
        return weights_origin(self.arch)

    def note(self) -> str | None:
        """A file under the official name that is not the official file, in words."""
        path = self.target
        if path.is_file() and self.official != path:
            return (
                f"{path} is not torchvision's official file (its SHA-256 does not start with "
                f"{self.sha256_prefix}), so it is not used; `cnnstudio weights get {self.name}` replaces it."
            )
        return None


def catalogue() -> list[WeightsEntry]:
    return [
        WeightsEntry(name, arch, BACKBONES[arch].weights_file)
        for name, arch in TEMPLATE_ARCH.items()
        if arch in BACKBONES
    ]


def entry(name: str) -> WeightsEntry:
    """The entry for a template name (or a torchvision architecture name)."""
    for item in catalogue():
        if name in (item.name, item.arch):
            return item
    names = ", ".join(item.name for item in catalogue())
    raise UserError(f"There are no pre-trained weights called {name!r}; the names are: {names}.")


def default_source() -> str:
    """Where `weights get` fetches from without --from: the environment variable, else torchvision."""
    return os.environ.get(ENV_SOURCE, "").strip() or OFFICIAL_BASE


def source_of(item: WeightsEntry, source: str | None = None) -> str:
    """The file's URL (a base with "://") or path in a folder (download.check_url says which URLs go)."""
    base = source or default_source()
    if "://" in base:
        return base.rstrip("/") + "/" + item.file_name
    return str(Path(base).expanduser() / item.file_name)


def explicit_source(source: str | None = None) -> bool:
    """Whether the user named the source (--from, the dialog's field, or the environment variable)."""
    return bool(source or os.environ.get(ENV_SOURCE, "").strip())


def list_weights(source: str | None = None) -> list[dict]:
    """One row per backbone: name, present, path (where it is, or where it would go), bytes, source,
    origin (in words), official (the checked official file is here), imported (its record or None),
    note (a file under the official name that is not it)."""
    rows = []
    for item in catalogue():
        here = item.present
        path = here or item.target
        record = item.imported
        rows.append(
            {
                "name": item.name,
                "title": item.title,
                "present": here is not None,
                "path": str(path),
                "bytes": here.stat().st_size if here is not None else item.expected_bytes,
                "source": source_of(item, source),
                "origin": item.origin,
                "official": item.official is not None,
                "imported": None
                if record is None
                else {"from": record.source_file, "sha256": record.source_sha256, "date": record.imported_at},
                "note": item.note(),
            }
        )
    return rows


def packaged_weights() -> list[Path]:
    """What `make package` bundles: official files only, each checked by its SHA-256 (never imports)."""
    return [item.target for item in catalogue() if item.official == item.target]


def random_frozen_backbones(spec) -> list[tuple[Backbone, WeightsEntry]]:
    """The design's backbones that would train with random weights while some of their blocks stay
    frozen, because their ImageNet file is not on this computer: such a network learns badly."""
    found = []
    for layer in spec.layers:
        if not isinstance(layer, Backbone) or layer.arch not in BACKBONES:
            continue
        frozen = not layer.trainable or layer.train_blocks < len(BACKBONES[layer.arch].blocks)
        if layer.weights == "imagenet" and layer.weights_path is None and frozen:
            found.append((layer, entry(layer.arch)))
    return found
