"""The user documentation builds, with warnings as errors.

Building runs autodoc and numpydoc on every public docstring and the code of every
``.. plot::`` directive, so a broken docstring or a plot whose code no longer runs fails
this test.  The ``>>>`` examples of the pages are run separately, as doctests, by
pytest's ``--doctest-glob="*.rst"`` (setup.cfg).
"""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import lmmext

DOCS = Path(__file__).resolve().parents[1] / "docs"


@pytest.fixture(scope="module")
def html(tmp_path_factory):
    """Build the HTML pages once; return the output folder."""
    out = tmp_path_factory.mktemp("docs_html")
    env = dict(os.environ, MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q",
         "-d", str(out / ".doctrees"), str(DOCS), str(out)],
        capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, (
        f"sphinx-build failed (exit {proc.returncode}):\n{proc.stderr}\n{proc.stdout}")
    return out


def test_build_has_every_page(html):
    sources = sorted(p.relative_to(DOCS).with_suffix(".html")
                     for p in DOCS.rglob("*.rst") if "_build" not in p.parts)
    assert len(sources) >= 15
    missing = [str(p) for p in sources if not (html / p).is_file()]
    assert not missing, missing


def test_api_page_documents_every_public_name(html):
    text = (html / "api.html").read_text(encoding="utf-8")
    for name in lmmext.__all__:
        assert f'id="lmmext.{name}"' in text, f"lmmext.{name} is not in the API reference"
    for name in ("LMEResults", "GLSResults"):
        assert f'id="lmmext.results.{name}"' in text
    # numpydoc rendered the parameter sections of the docstrings
    assert text.count('class="field-list') >= 10


def test_diagnostics_page_draws_every_plot_function(html):
    """Each plot function of lmmext.diagnostics.plots draws a figure of the diagnostics page."""
    from lmmext.diagnostics import plots
    source = (DOCS / "diagnostics.rst").read_text(encoding="utf-8")
    blocks = re.findall(r"^\.\. plot::\n((?:\n|   .*\n)+)", source, flags=re.M)
    code = "".join(blocks)
    for name in plots.__all__:
        assert f"lmmext.{name}(" in code, f"no figure of docs/diagnostics.rst uses {name}"
    text = (html / "diagnostics.html").read_text(encoding="utf-8")
    assert len(re.findall(r'<img [^>]*src="[^"]+\.png"', text)) >= len(blocks) >= 7


def test_plots_are_generated(html):
    pages = ["examples/orthodont.html", "examples/lactase.html", "examples/ratpup.html",
             "examples/sires.html", "examples/henderson.html", "diagnostics.html"]
    for page in pages:
        text = (html / page).read_text(encoding="utf-8")
        images = re.findall(r'<img [^>]*src="([^"]+\.png)"', text)
        assert images, f"{page} has no figure"
        for src in images:
            assert (html / Path(page).parent / src).is_file(), src
