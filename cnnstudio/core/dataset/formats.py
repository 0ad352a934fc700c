"""Which file names are pictures, which are operating-system junk, and which folders name a split."""

from __future__ import annotations

# Kinds Pillow decodes without extra plugins; compared in lower case, so "IMG_1.JPG" counts.
IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}
)

# Files the operating system or a sync tool leaves behind; never pictures, never worth a problem line.
JUNK_NAMES: frozenset[str] = frozenset({"thumbs.db", "ehthumbs.db", "desktop.ini", "icon\r"})
JUNK_DIRS: frozenset[str] = frozenset({"__macosx", "@eadir", "$recycle.bin", "system volume information"})

# Files that often sit next to a dataset (notes, label lists, licences). They are not pictures, but
# listing each as a problem would bury the real problems, so they are ignored quietly. Any other
# kind of file (.heic, .mp4, .svg, ...) is listed as a problem, since it may be a picture the user
# expects to be used.
SIDE_FILE_EXTENSIONS: frozenset[str] = frozenset(
    {".txt", ".md", ".rst", ".csv", ".tsv", ".json", ".jsonl", ".xml", ".yaml", ".yml", ".ini", ".log"}
    | {".html", ".htm", ".pdf", ".py", ".ipynb", ".sh", ".bat", ".zip", ".tar", ".gz", ".license"}
)

SIDE_FILE_STEMS: frozenset[str] = frozenset(
    {"readme", "license", "licence", "copying", "notice", "authors", "changelog", "citation"}
)

# Folder names that give a split in the split-folder layout (compared in lower case).
SPLIT_FOLDER_NAMES: dict[str, str] = {
    "train": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
}
SPLITS: tuple[str, str, str] = ("train", "val", "test")


def extension(name: str) -> str:
    """The lower-case extension with its dot ("" when there is none)."""
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def is_image_name(name: str) -> bool:
    return extension(name) in IMAGE_EXTENSIONS


def is_junk_file(name: str) -> bool:
    """Hidden files (".DS_Store", macOS "._photo.jpg" companions) and known OS leftovers."""
    return name.startswith(".") or name.startswith("~$") or name.lower() in JUNK_NAMES


def is_junk_dir(name: str) -> bool:
    return name.startswith(".") or name.lower() in JUNK_DIRS


def is_side_file(name: str) -> bool:
    lower = name.lower()
    return extension(lower) in SIDE_FILE_EXTENSIONS or lower.split(".", 1)[0] in SIDE_FILE_STEMS
