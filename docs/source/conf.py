"""Sphinx configuration for pygkd (build: sphinx-build -W -b html docs/source docs/_build)."""

import pygkd

project = "pygkd"
author = "pygkd developers"
release = version = pygkd.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "sphinx.ext.doctest",
]
autosummary_generate = True
napoleon_google_docstring = True
napoleon_custom_sections = [("Shapes", "params_style")]
html_theme = "alabaster"
