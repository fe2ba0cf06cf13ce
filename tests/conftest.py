"""Test settings: JAX on the CPU, and hopper_jax's compiled-function cache in a directory of this session.

The cache directory is new for each session (and shared with the subprocesses tests start), so no test
depends on what an earlier session left on disk, and the suite never writes to the user's ~/.cache.
"""

import atexit
import os
import shutil
import sys
import tempfile

os.environ.setdefault("JAX_PLATFORMS", "cpu")
if "HOPPER_JAX_CACHE_DIR" not in os.environ:
    os.environ["HOPPER_JAX_CACHE_DIR"] = tempfile.mkdtemp(prefix="hopper_jax_test_cache_")
    atexit.register(shutil.rmtree, os.environ["HOPPER_JAX_CACHE_DIR"], ignore_errors=True)
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)  # `examples.<name>` and `benchmarks.<name>` import from the repository root
