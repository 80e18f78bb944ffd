"""Sphinx configuration for pygkd (build: sphinx-build -W -b html docs/source docs/_build)."""

import pygkd

project = "pygkd"
author = "pygkd developers"
release = version = pygkd.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx.ext.doctest",
    "sphinx_click",
]
autodoc_default_options = {"show-inheritance": True}
autodoc_member_order = "bysource"
napoleon_google_docstring = True
napoleon_custom_sections = [("Shapes", "params_style")]
html_theme = "alabaster"

doctest_global_setup = "import torch"
# docstring examples run under pytest --doctest-modules; here only the guides' doctest blocks
doctest_test_doctest_blocks = ""
doctest_default_flags = __import__("doctest").ELLIPSIS | __import__("doctest").NORMALIZE_WHITESPACE
