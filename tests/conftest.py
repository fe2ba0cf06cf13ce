"""Test settings: JAX on the CPU, quiet, and a small shared search space."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
