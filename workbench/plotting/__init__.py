"""Figures: every function takes data or a result, accepts ``ax=None`` (or returns a plotly
figure) and returns what it drew. Nothing here solves, trains or calls ``plt.show()``.

One submodule per family of figures; the public names are re-exported here.
"""
