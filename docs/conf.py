"""Sphinx configuration of the lmmext user documentation.

Build with ``python -m sphinx -W -b html docs docs/_build/html`` from the repository
root.  The documentation is built from the checkout (not an installed copy): the
repository root is put first on ``sys.path``.
"""
import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, ROOT)

import lmmext  # noqa: E402

project = "lmmext"
author = "the lmmext developers"
copyright = "the lmmext developers"
release = lmmext.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.mathjax",
    "numpydoc",
    "matplotlib.sphinxext.plot_directive",
]

source_suffix = {".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build"]
templates_path = []
html_static_path = []
html_theme = "alabaster"
html_theme_options = {"description": "nlme's linear mixed models for statsmodels",
                      "fixed_sidebar": True}
html_sidebars = {"**": ["about.html", "navigation.html", "searchbox.html"]}

# -- autodoc / numpydoc -------------------------------------------------------------
# Our classes subclass statsmodels' MixedLM / MixedLMResults: document only the members
# defined in lmmext (autodoc's default without :inherited-members:), and do not let
# numpydoc add tables of the (many, inherited) class members.
autodoc_member_order = "bysource"
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_show_inherited_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- plots: generated at build time by running the code shown on the page -----------
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 90)]
plot_pre_code = ""
plot_rcparams = {"figure.figsize": (6.0, 4.0), "figure.dpi": 90}
