"""Sphinx configuration of nbflow's documentation (MyST Markdown, myst-nb, pydata theme)."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

DOCS = Path(__file__).resolve().parent
REPO = DOCS.parent
sys.path.insert(0, str(DOCS / "_ext"))

project = "nbflow"
author = "nbflow developers"
copyright = "nbflow developers"

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "nbflow_reference",
]
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3
exclude_patterns = ["_build", "tutorials/templates", "**.ipynb_checkpoints"]
# README sections are included as they are; their headings may skip a level
suppress_warnings = ["myst.header"]

# The gallery's notebooks are the tutorials: copied from notebooks/ at each build and executed,
# with errors failing the build. NBFLOW_DOCS_EXECUTE=off executes nothing (a quick look);
# =pages executes the pages but not the tutorials (tests/gallery executes those).
TUTORIALS = DOCS / "tutorials"
for source in (REPO / "notebooks").glob("*.ipynb"):
    shutil.copy2(source, TUTORIALS / source.name)
shutil.copytree(REPO / "notebooks" / "templates", TUTORIALS / "templates", dirs_exist_ok=True)
EXECUTE = os.environ.get("NBFLOW_DOCS_EXECUTE", "all")
nb_execution_mode = "off" if EXECUTE == "off" else "force"
nb_execution_excludepatterns = ["tutorials/*"] if EXECUTE == "pages" else []
nb_execution_raise_on_error = True
nb_execution_timeout = 180
nb_execution_show_tb = True
nb_merge_streams = True
# the runs of the executed notebooks go to a home of the build's own
os.environ["NBFLOW_HOME"] = tempfile.mkdtemp(prefix="nbflow-docs-")
os.environ.pop("NBFLOW_ARTIFACT_ROOT", None)

autodoc_member_order = "bysource"
autodoc_typehints = "none"
napoleon_numpy_docstring = True
napoleon_google_docstring = False

html_theme = "pydata_sphinx_theme"
html_title = "nbflow"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path = ["_static"]
