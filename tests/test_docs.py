"""The Sphinx site builds without warnings and documents every public name."""

import importlib
import inspect
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import pygkd

REPO = Path(__file__).resolve().parents[1]


def public_names():
    """``(module, name, object)`` for every name in the ``__all__`` of a public module."""
    for info in pkgutil.walk_packages(pygkd.__path__, "pygkd."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts) or parts[1] == "cli":
            continue
        module = importlib.import_module(info.name)
        for name in getattr(module, "__all__", []):
            yield info.name, name, getattr(module, name)


@pytest.fixture(scope="module")
def inventory(tmp_path_factory):
    pytest.importorskip("sphinx", reason="Sphinx is not installed (pip install -e .[docs])")
    pytest.importorskip("sphinx_click", reason="sphinx-click is not installed")
    out = tmp_path_factory.mktemp("html")
    build = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b",
                            "html", str(REPO / "docs" / "source"), str(out)],
                           capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    from sphinx.util.inventory import InventoryFile

    with open(out / "objects.inv", "rb") as f:
        inv = InventoryFile.load(f, "", lambda base, uri: uri)
    data = inv.data if hasattr(inv, "data") else inv
    names = set()
    for entries in data.values():
        names.update(entries)
    return names, out


def test_every_public_name_is_in_the_api_reference(inventory):
    names, _ = inventory
    missing = []
    for module, name, obj in public_names():
        # class or function: documented where it is defined
        if inspect.isclass(obj) or inspect.isfunction(obj):
            # at its defining module, or at the public path of a package that re-exports it
            package = ".".join(obj.__module__.split(".")[:2])
            found = (f"{obj.__module__}.{obj.__qualname__}" in names
                     or (f"{package}.{obj.__qualname__}" in names
                         and getattr(importlib.import_module(package), obj.__qualname__,
                                     None) is obj))
        else:  # a constant: in the module that defines it, which this one is or re-exports
            found = any(n.startswith(module + ".") and n.endswith("." + name) for n in names)
        if not found:
            missing.append(f"{module}.{name}")
    assert not missing, f"not in the API reference: {missing}"


def test_command_line_reference_lists_every_command(inventory):
    _, out = inventory
    page = (out / "cli.html").read_text()
    for command in ("quickstart", "train", "distill", "prune", "compare-distill",
                    "compare-prune", "plot-tsne", "plot-forecast", "report", "bench-kd"):
        assert f'id="pygkd-{command}"' in page, command
    assert "--teacher" in page and "Forecast vs ground truth" in page


def test_lower_packages_never_import_higher_ones():
    """Layers from the bottom: data, nn, runtime -> train -> distill, prune -> experiments ->
    cli; the algorithm packages (distill, prune) import neither each other nor a runner."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "pygkd"
    runners = "experiments|deploy|bench|report|cli"
    higher = {"data": f"train|distill|prune|{runners}",
              "nn": f"train|distill|prune|{runners}",
              "runtime": f"train|distill|prune|{runners}",
              "train": f"distill|prune|{runners}",
              "distill": f"prune|{runners}",
              "prune": f"distill|{runners}",
              "experiments": "cli"}
    found = []
    for package, banned in higher.items():
        pattern = re.compile(rf"^\s*(from|import) pygkd\.({banned})\b", re.M)
        for path in (root / package).rglob("*.py"):
            found += [f"{path.relative_to(root)}: {m.group(0).strip()}"
                      for m in pattern.finditer(path.read_text())]
    assert not found, found
