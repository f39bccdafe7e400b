"""ipywidgets panels used by the notebooks: one call per panel.

Each panel works headless (papermill) with its default values and returns the widget it built.
One submodule per notebook family; the public names are re-exported here.
"""

from .arena import arena_panel  # noqa: F401
from .mla import mla_panel  # noqa: F401
from .ot import ot_panel  # noqa: F401
from .otm import otm_panel  # noqa: F401
from .quickstart import robustness_panel  # noqa: F401
from .raml import weight_panel  # noqa: F401
from .wma import wma_panel  # noqa: F401
