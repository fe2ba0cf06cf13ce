"""The functional core: pure, jittable init / ask / tell over a small state pytree."""

from .algorithm import Hopper, HopperState, Population, Schedule, hopper, linear_temperature

__all__ = ["Hopper", "HopperState", "Population", "Schedule", "hopper", "linear_temperature"]
