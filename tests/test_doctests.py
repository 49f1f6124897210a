"""The examples in the docstrings run, so they cannot go stale.

Every module of ``geo``, ``tiles`` and ``api`` is imported and its examples are
run with doctest; a module without examples contributes nothing.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

PACKAGES = ("geo", "tiles", "api")
SKIP = (".migrations.", "api.cli.__main__")


def modules() -> list[str]:
    names = []
    for pkg in PACKAGES:
        root = importlib.import_module(pkg)
        for info in pkgutil.walk_packages(root.__path__, pkg + "."):
            if not any(s in info.name + "." for s in SKIP):
                names.append(info.name)
    return sorted(names)


def test_the_examples_are_found():
    total = sum(
        len(t.examples) for name in modules()
        for t in doctest.DocTestFinder().find(importlib.import_module(name))
    )
    assert total >= 100, total


@pytest.mark.parametrize("name", modules())
def test_docstring_examples(name):
    result = doctest.testmod(
        importlib.import_module(name),
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE,
        report=True,
    )
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
