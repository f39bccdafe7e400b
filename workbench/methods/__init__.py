"""The papers' methods and their baselines, one registry for all of them.

>>> from workbench import methods
>>> methods.available()            # every method and baseline, by the name its paper prints
>>> model = methods.build("RAML", train, seed=0, lambda_u=1.0)

Experiment code (profiles, grids, paper tables) lives in :mod:`workbench.experiments`.
"""

from . import catalog as _catalog  # noqa: F401  (registers every method)
from .registry import MethodSpec, available, build, register, spec

__all__ = ["MethodSpec", "available", "build", "register", "spec"]
