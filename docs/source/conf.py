"""Sphinx configuration for pygkd (build: sphinx-build -W -b html docs/source docs/_build).

The site works offline: MathJax is served from the site itself (``sphinx-mathjax-offline``).
Links into the PyTorch / PyG / PyG Temporal / NumPy documentation (intersphinx) are added when
their inventories can be fetched; a build without a network simply leaves those names unlinked.
"""

import doctest
import os
import socket

import pygkd

project = "pygkd"
author = "pygkd developers"
release = version = pygkd.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",
    "sphinx.ext.viewcode",
    "sphinx.ext.doctest",
    "sphinx.ext.intersphinx",
    "sphinx_click",
]
autodoc_default_options = {"show-inheritance": True}
autodoc_member_order = "bysource"
autosummary_generate = True
#: class pages list the class's own members, not the ones inherited from nn.Module
templates_path = ["_templates"]
napoleon_google_docstring = True
napoleon_custom_sections = ["Shapes"]  # a rubric over the bullet list, as PyG renders it
html_theme = "furo"
html_title = f"pygkd {release}"


def _online(host: str = "pytorch.org") -> bool:
    if os.environ.get("PYGKD_DOCS_OFFLINE"):
        return False
    try:
        socket.create_connection((host, 443), timeout=2).close()
        return True
    except OSError:
        return False


intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "torch": ("https://docs.pytorch.org/docs/stable", None),
    "torch_geometric": ("https://pytorch-geometric.readthedocs.io/en/latest", None),
    "torch_geometric_temporal": (
        "https://pytorch-geometric-temporal.readthedocs.io/en/latest", None),
    "numpy": ("https://numpy.org/doc/stable", None),
} if _online() else {}

doctest_global_setup = "import torch"
# docstring examples run under pytest --doctest-modules; here only the guides' doctest blocks
doctest_test_doctest_blocks = ""
doctest_default_flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _documented_at_package(app, what, name, obj, skip, options):  # noqa: ANN001, ANN202
    """In module sections, leave out classes and functions that their package re-exports:
    each has one page at its public path (``pygkd.nn.STGCN``), which also answers to the
    defining module's path (autodoc's ``:canonical:``)."""
    import importlib
    import inspect

    if what != "module" or not (inspect.isclass(obj) or inspect.isfunction(obj)):
        return None
    parts = getattr(obj, "__module__", "").split(".")
    if len(parts) < 3 or parts[0] != "pygkd":
        return None
    package = importlib.import_module(".".join(parts[:2]))
    if name in getattr(package, "__all__", ()) and getattr(package, name, None) is obj:
        return True
    return None


def setup(app):  # noqa: ANN001, ANN201
    app.connect("autodoc-skip-member", _documented_at_package)
