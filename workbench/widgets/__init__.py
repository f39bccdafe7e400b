"""ipywidgets panels used by the notebooks: one call per panel.

Each panel works headless (papermill) with its default values and returns the widget it built.
One submodule per notebook family; the public names are re-exported here.
"""
