"""Search spaces: declarations, their jittable encodings, and the template compiler."""

from .compile import Leaf, Space
from .declarations import (
                           ChoiceParameter,
                           CustomParameter,
                           FloatParameter,
                           IntParameter,
                           Parameter,
                           boolean,
                           choice,
                           custom,
                           integer,
                           real,
)

__all__ = ["Leaf", "Space", "Parameter", "FloatParameter", "IntParameter", "ChoiceParameter",
           "CustomParameter", "integer", "real", "choice", "boolean", "custom"]
