"""Imports run one way between the packages that the structure keeps apart (checked on the real
import graph, function-level imports included)."""

from __future__ import annotations

import grimp
import pytest


@pytest.fixture(scope="module")
def graph():
    return grimp.build_graph("cnnstudio")


def _imports(graph, package: str, target: str) -> list[tuple[str, str]]:
    return sorted(
        (module, imported)
        for module in graph.find_children(package) | graph.find_descendants(package) | {package}
        for imported in graph.find_modules_directly_imported_by(module)
        if imported == target or imported.startswith(target + ".")
    )


@pytest.mark.parametrize(
    ("package", "target"),
    [
        ("cnnstudio.core.export", "cnnstudio.core.ensemble"),  # the ensemble builds on export
        ("cnnstudio.core.export", "cnnstudio.core.pipeline"),  # export finds runs through core.runs
        ("cnnstudio.core.export", "cnnstudio.core.models"),
        ("cnnstudio.core.ensemble", "cnnstudio.core.models"),
        ("cnnstudio.core.runs", "cnnstudio.core.project"),  # Project.list_runs uses core.runs
        ("cnnstudio.core.runs", "cnnstudio.core.train"),  # listing runs loads no torch
        ("cnnstudio.core.runs", "cnnstudio.gui"),
    ],
)
def test_no_import_against_the_direction(graph, package, target):
    assert _imports(graph, package, target) == []


def test_the_export_ensemble_pipeline_group_has_no_cycle(graph):
    group = (
        "cnnstudio.core.export",
        "cnnstudio.core.ensemble",
        "cnnstudio.core.pipeline",
        "cnnstudio.core.runs",
    )
    for a in group:
        for b in group:
            if a < b:
                assert not (
                    graph.chain_exists(importer=a, imported=b, as_packages=True)
                    and graph.chain_exists(importer=b, imported=a, as_packages=True)
                ), f"{a} and {b} import each other"
