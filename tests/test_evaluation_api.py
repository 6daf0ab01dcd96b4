"""The public API of the packages added by the run-lifecycle redesign imports and is complete."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("package", ["dpkit.engine", "dpkit.evaluation", "dpkit.data"])
def test_public_api_is_importable(package):
    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert not missing and len(set(module.__all__)) == len(module.__all__)


def test_no_module_outside_the_engine_imports_opacus_optimizers_or_hooks():
    """The engine owns Opacus: every other module goes through dpkit.engine."""
    from pathlib import Path

    import dpkit

    root = Path(dpkit.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        if path.parts[-2] == "engine":
            continue
        text = path.read_text()
        if "import opacus" in text or "from opacus" in text:
            offenders.append(str(path.relative_to(root)))
    assert offenders == []
