"""The import structure holds: layers one way, and no module reaches itself again.

Two independent checks. ``lint-imports`` runs the contracts of ``pyproject.toml``
(``geo`` never imports ``tiles`` or ``api``, ``tiles`` never imports ``api``; no
two sibling modules or packages import each other). The cycle test builds the
module graph with grimp (imports inside functions count) and asks networkx for
its strongly connected components: any component of more than one module is a
cycle, whatever the packages involved.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grimp
import networkx as nx

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("geo", "tiles", "api")


def _module_graph() -> nx.DiGraph:
    graph = grimp.build_graph(*PACKAGES, include_external_packages=False, cache_dir=None)
    out = nx.DiGraph()
    out.add_nodes_from(graph.modules)
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            out.add_edge(module, imported)
    return out


def _package_graph(modules: nx.DiGraph) -> nx.DiGraph:
    """Modules folded into their second-level package (``geo.io.load`` → ``geo.io``)."""
    out = nx.DiGraph()
    for a, b in modules.edges:
        pa, pb = ".".join(a.split(".")[:2]), ".".join(b.split(".")[:2])
        if pa != pb:
            out.add_edge(pa, pb)
    return out


def _cycles(graph: nx.DiGraph) -> list[list[str]]:
    """Each cycle as one path through it, for a readable message."""
    found = []
    for component in nx.strongly_connected_components(graph):
        if len(component) > 1:
            found.append(nx.find_cycle(graph.subgraph(component))[0:])
    return sorted([a for a, _ in edges] + [edges[-1][1]] for edges in found)


def test_the_graph_is_read():
    graph = _module_graph()
    assert graph.has_edge("api.app", "api.errors")
    assert graph.number_of_nodes() > 150


def test_no_module_imports_itself_back():
    cycles = _cycles(_module_graph())
    assert cycles == [], "import cycles: " + "; ".join(" → ".join(c) for c in cycles)


def test_no_package_imports_itself_back():
    cycles = _cycles(_package_graph(_module_graph()))
    assert cycles == [], "package cycles: " + "; ".join(" → ".join(c) for c in cycles)


def test_the_import_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert "Contracts: 3 kept, 0 broken." in done.stdout, done.stdout[-3000:] + done.stderr
    assert done.returncode == 0


def test_the_loaders_do_not_speak_cli():
    """Messages in ``geo/io`` name options by parameter (geo.options); the CLI spells flags."""
    import re

    flags = re.compile(r"--(map|crs|encoding|on-conflict|reject-file|allow-outside)\b")
    found = [f"{p.relative_to(ROOT)}:{n}" for p in [*(ROOT / "geo" / "io").glob("*.py"),
                                                  ROOT / "geo" / "crs.py"]
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if flags.search(line.split("#")[0]) and '"""' not in line and "``" not in line]
    assert found == []


def test_the_loaders_do_not_branch_on_layer_names():
    """Per-layer steps are LoadHooks on the layer spec (geo/layers.py), not name tests."""
    import re

    branch = re.compile(r"""(spec\.name|layer)\s*(==|!=|in)\s*[("']""")
    found = [f"{p.relative_to(ROOT)}:{n}" for p in (ROOT / "geo" / "io").glob("*.py")
             for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
             if branch.search(line)]
    assert found == []
