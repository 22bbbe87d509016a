"""Notebooks: read magics from .ipynb files and build the step notebooks papermill runs."""
