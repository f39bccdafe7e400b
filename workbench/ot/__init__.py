"""Optimal transport core: IPOT, Sinkhorn, exact OT, FGW and FGW barycenters.

Pure functions on tensors with optional leading batch dimensions, uniform marginals by default,
returning frozen result objects (:class:`OTResult`, :class:`BarycenterResult`,
:class:`MixResult`). They run on the device of their inputs.
"""

from workbench.ot.barycenter import fgw_barycenter, kmeans_init
from workbench.ot.costs import cosine_cost, euclidean_cost, pairwise_cost, squared_euclidean_cost
from workbench.ot.diagnostics import fgw_matchings, median_relative_error, solver_errors
from workbench.ot.exact import exact
from workbench.ot.fgw import fgw, fgw_objective, pot_alpha
from workbench.ot.ipot import ipot, ipot_error_curve
from workbench.ot.mixing import gw_cluster_loss, stochastic_mix
from workbench.ot.result import BarycenterResult, MixResult, OTResult
from workbench.ot.sinkhorn import sinkhorn

__all__ = [
    "OTResult",
    "BarycenterResult",
    "MixResult",
    "ipot",
    "ipot_error_curve",
    "sinkhorn",
    "exact",
    "squared_euclidean_cost",
    "euclidean_cost",
    "cosine_cost",
    "pairwise_cost",
    "fgw",
    "fgw_objective",
    "pot_alpha",
    "fgw_barycenter",
    "kmeans_init",
    "stochastic_mix",
    "gw_cluster_loss",
    "solver_errors",
    "median_relative_error",
    "fgw_matchings",
]
