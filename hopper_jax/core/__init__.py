"""The functional core: pure, jittable init / ask / tell over a small state pytree."""

from .algorithm import Hopper, HopperState, Population, hopper, temperature_schedule

__all__ = ["Hopper", "HopperState", "Population", "hopper", "temperature_schedule"]
