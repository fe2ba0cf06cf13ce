"""Every Python snippet of the README runs as pasted (in a fresh namespace, in an empty directory)."""

from __future__ import annotations

import re
from pathlib import Path

import jax
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def snippets() -> list[tuple[str, str]]:
    """(the heading above it, code) for each ```python block of the README, in order."""
    found, heading = [], "top"
    for match in re.finditer(r"^(#+ [^\n]*)$|^```python\n(.*?)^```", README.read_text(), re.M | re.S):
        if match.group(1):
            heading = match.group(1).lstrip("# ").strip()
        else:
            found.append((heading, match.group(2)))
    return found


def test_the_readme_has_the_snippets_this_test_runs():
    headings = [heading for heading, _ in snippets()]
    assert len(headings) >= 7
    assert any("Python mode" in h for h in headings) and any("functional core" in h for h in headings)


@pytest.mark.parametrize("index", range(len(snippets())), ids=[h for h, _ in snippets()])
def test_snippet_runs_as_pasted(index, tmp_path, monkeypatch):
    heading, code = snippets()[index]
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": f"readme_snippet_{index}"}
    x64 = jax.config.jax_enable_x64
    try:
        exec(compile(code, f"README.md ({heading})", "exec"), namespace)  # noqa: S102 - our own README
    finally:
        jax.config.update("jax_enable_x64", x64)  # a snippet that turns on 64-bit JAX does so for itself
    searches = [value for value in namespace.values() if type(value).__name__ == "Search"]
    for search in searches:  # a snippet that searches must have found something
        assert search.best_f is not None and len(search.history) > 0
