"""hopper_jax: a JAX-vectorized black-box optimizer for array parameters.

PyHopper's algorithm (phase 1 random search, phase 2 annealed local perturbation around the best) as
jitted, vmapped functions, behind PyHopper's dict-in, dict-out API: `import hopper_jax as pyhopper`.
"""

from . import core, evaluators, loggers, noise, plots, pruners, space, utils
from .core import Hopper, HopperState, Population, hopper
from .evaluators import PruneEvaluation, should_prune
from .noise import average_over_keys, wrap_n_times
from .search import callbacks
from .search.budget import parse_direction
from .search.callbacks import Callback, CandidateType, ParamInfo
from .search.candidates import merge_dicts
from .search.history import ArraySummary, History
from .search.runtime import parse_runtime
from .search.search import Search
from .space import Parameter, Space
from .space.declarations import boolean, choice, custom, integer, real
from .utils import load_dict, store_dict

# PyHopper's names; they shadow the builtins inside this namespace only.
int = integer  # noqa: A001
float = real  # noqa: A001
bool = boolean  # noqa: A001

__version__ = "0.1.0"

__all__ = [
    "Search", "int", "float", "choice", "bool", "custom", "integer", "real", "boolean", "Parameter",
    "PruneEvaluation", "parse_runtime", "parse_direction", "Callback", "CandidateType", "ParamInfo",
    "History", "ArraySummary", "merge_dicts", "store_dict", "load_dict", "Space", "hopper", "Hopper", "HopperState",
    "Population",
    "should_prune", "wrap_n_times", "average_over_keys",
    "core", "space", "evaluators", "callbacks", "pruners", "loggers", "noise", "plots", "utils", "__version__",
]
