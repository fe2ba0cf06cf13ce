"""Test settings: JAX on the CPU, quiet, and a small shared search space."""

import os
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # `examples.<name>` and `benchmarks.<name>` import from the repository root
