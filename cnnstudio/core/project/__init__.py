"""The project: a folder with project.json (project_file.py), shared by many processes through an
inter-process lock (lock.py) and a three-way merge of their changes (merge.py)."""

from cnnstudio.core.project.project_file import (
    PROJECT_FILE,
    SCHEMA_VERSION,
    SPLITS,
    Project,
    SplitData,
    migrate,
)

__all__ = ["PROJECT_FILE", "SCHEMA_VERSION", "SPLITS", "Project", "SplitData", "migrate"]
