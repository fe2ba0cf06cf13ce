"""The engine's process-wide side: one garbage collection and a freeze at interpreter exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap

PROGRAM = textwrap.dedent("""
    import atexit, gc
    atexit.register(lambda: print("frozen at exit:", gc.get_freeze_count() > 0, flush=True))  # runs last
    registered, register = [], atexit.register
    atexit.register = lambda fn, *a, **k: registered.append(getattr(fn, "__name__", "")) or register(fn, *a, **k)
    import hopper_jax as hj

    class Noisy:
        def __del__(self):
            print("finalised", flush=True)

    gc.disable()  # the cycle below stays garbage until the collection at exit
    cycle = Noisy()
    cycle.me = cycle
    del cycle
    print("registered before a search:", registered.count("_collect_and_freeze"), flush=True)
    for _ in range(2):  # two searches, two engines: one handler
        hj.Search(x=hj.float(0, 1)).run(lambda p: p["x"], "max", steps=3, quiet=True)
    print("registered after two searches:", registered.count("_collect_and_freeze"), flush=True)
""")


def test_exit_collects_the_garbage_there_is_then_freezes_the_rest():
    out = subprocess.run([sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "registered before a search: 0" in lines and "registered after two searches: 1" in lines
    assert "finalised" in lines and "frozen at exit: True" in lines
    assert lines.index("finalised") < lines.index("frozen at exit: True")  # collected before the freeze
    assert lines.count("finalised") == 1
