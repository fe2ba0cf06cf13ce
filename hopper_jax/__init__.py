"""hopper_jax: a JAX-vectorized black-box optimizer for array parameters.

PyHopper's algorithm (phase 1 random search, phase 2 annealed local perturbation around the best) as
jitted, vmapped functions, behind PyHopper's dict-in, dict-out API: `import hopper_jax as pyhopper`.

Names are imported on first use (see `_lazy`): `import hopper_jax` alone does not import JAX.
"""

from typing import TYPE_CHECKING

from ._lazy import lazy_attributes

__version__ = "0.1.0"

_EXPORTS = {
    # PyHopper's names for the parameter declarations; they shadow the builtins inside this namespace only
    "int": "space.declarations:integer", "float": "space.declarations:real", "bool": "space.declarations:boolean",
    "integer": "space.declarations:integer", "real": "space.declarations:real",
    "boolean": "space.declarations:boolean", "choice": "space.declarations:choice",
    "custom": "space.declarations:custom", "Parameter": "space:Parameter", "Space": "space:Space",
    "Search": "search.search:Search", "History": "search.history:History",
    "ArraySummary": "search.history:ArraySummary", "Callback": "search.callbacks:Callback",
    "CandidateType": "search.callbacks:CandidateType", "ParamInfo": "search.callbacks:ParamInfo",
    "parse_runtime": "search.runtime:parse_runtime", "parse_direction": "search.budget:parse_direction",
    "merge_dicts": "search.candidates:merge_dicts", "store_dict": "utils:store_dict", "load_dict": "utils:load_dict",
    "PruneEvaluation": "evaluators.outcome:PruneEvaluation", "should_prune": "evaluators.pruning:should_prune",
    "wrap_n_times": "noise:wrap_n_times", "average_over_keys": "noise:average_over_keys",
    "hopper": "core:hopper", "Hopper": "core:Hopper", "HopperState": "core:HopperState",
    "Population": "core:Population", "Schedule": "core:Schedule", "linear_temperature": "core:linear_temperature",
    "callbacks": "search.callbacks",
    **{name: name for name in ("core", "space", "evaluators", "pruners", "loggers", "noise", "plots", "utils")},
}
__all__ = [*_EXPORTS, "__version__"]
__getattr__, __dir__ = lazy_attributes(__name__, _EXPORTS)

if TYPE_CHECKING:  # what static tools see
    from . import core, evaluators, loggers, noise, plots, pruners, space, utils  # noqa: F401
    from .core import Hopper, HopperState, Population, Schedule, hopper, linear_temperature  # noqa: F401
    from .evaluators import PruneEvaluation, should_prune  # noqa: F401
    from .noise import average_over_keys, wrap_n_times  # noqa: F401
    from .search import callbacks  # noqa: F401
    from .search.budget import parse_direction  # noqa: F401
    from .search.callbacks import Callback, CandidateType, ParamInfo  # noqa: F401
    from .search.candidates import merge_dicts  # noqa: F401
    from .search.history import ArraySummary, History  # noqa: F401
    from .search.runtime import parse_runtime  # noqa: F401
    from .search.search import Search  # noqa: F401
    from .space import Parameter, Space  # noqa: F401
    from .space.declarations import boolean, choice, custom, integer, real  # noqa: F401
    from .utils import load_dict, store_dict  # noqa: F401

    int = integer  # noqa: A001
    float = real  # noqa: A001
    bool = boolean  # noqa: A001
