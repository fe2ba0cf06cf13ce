"""Plots render (Agg) and draw what the history holds: points per phase, the best-so-far line, the phase
boundary, the temperature axis, marginal panels with log or categorical axes."""

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from hopper_jax.plots import plot_history, plot_marginals  # noqa: E402
from hopper_jax.search.callbacks import CandidateType, ParamInfo  # noqa: E402
from hopper_jax.search.history import FAILED, PRUNED, History  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def history():
    """1 initial guess, 20 random draws (log-uniform lr), 29 local steps; one failure, one pruned."""
    rng = np.random.default_rng(0)
    history = History("min")
    for i in range(50):
        kind = (CandidateType.INIT if i == 0 else CandidateType.RANDOM_SEEDING if i <= 20
                else CandidateType.LOCAL_SAMPLING)
        lr = 10 ** rng.uniform(-5, -1)
        candidate = {"lr": lr, "dropout": rng.uniform(0, 0.5), "layers": int(rng.integers(1, 5)),
                     "opt": ["adam", "sgd", {"name": "momentum"}][i % 3], "w": np.zeros(3)}
        temperature = None if i == 0 else 1.0 - i / 60
        info = ParamInfo(kind, 0.0, finished_at=None, temperature=temperature, step=i)
        f = (np.log10(lr) + 3) ** 2 + candidate["dropout"]
        history.append(candidate, float(f), info)
    history.append({"lr": 1.0}, None, ParamInfo(CandidateType.LOCAL_SAMPLING, 0.0), FAILED)
    history.append({"lr": 1.0}, None, ParamInfo(CandidateType.LOCAL_SAMPLING, 0.0), PRUNED)
    return history


def points(collection):
    return np.asarray(collection.get_offsets())


def test_history_plot_draws_every_evaluation_by_phase(history, tmp_path):
    path = tmp_path / "history.png"
    ax = plot_history(history, path=path)
    assert path.stat().st_size > 10_000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    by_label = {c.get_label(): points(c) for c in ax.collections}
    assert {label: len(p) for label, p in by_label.items()} == {
        "initial guess": 1, "random seeding (phase 1)": 20, "local sampling (phase 2)": 29}
    local = by_label["local sampling (phase 2)"]
    np.testing.assert_array_equal(local[:, 0], np.arange(21, 50))
    np.testing.assert_allclose(local[:, 1], history.fs[21:])
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["best so far"].get_ydata(), history.best_fs)
    assert lines["best so far"].get_drawstyle() == "steps-post"
    assert list(lines["local sampling starts"].get_xdata()) == [20.5, 20.5]
    temperature_axis = ax.figure.axes[-1]
    [temperature] = temperature_axis.get_lines()
    np.testing.assert_allclose(temperature.get_xdata(), np.arange(1, 50))  # the initial guess has none
    assert temperature_axis.get_ylim() == (0, 1.05)
    assert "1 pruned, 1 failed" in ax.get_title() and f"{history.best_f:.4g}" in ax.get_title()
    assert not plt.get_fignums()  # saved and closed: nothing left open by a script


def test_history_plot_into_a_given_axes_without_local_phase():
    history = History("max")
    for i in range(3):
        history.append({"x": i}, float(i), ParamInfo(CandidateType.RANDOM_SEEDING, 0.0, temperature=1.0))
    figure, ax = plt.subplots()
    assert plot_history(history, ax=ax, yscale="log") is ax
    assert "local sampling starts" not in [line.get_label() for line in ax.get_lines()]
    assert ax.get_yscale() == "log" and plt.fignum_exists(figure.number)
    plt.close(figure)


def test_marginals_one_panel_per_scalar_parameter(history, tmp_path):
    path = tmp_path / "marginals.png"
    figure = plot_marginals(history, path=path)
    assert path.exists()
    panels = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_xlabel() for ax in panels] == ["lr", "dropout", "layers", "opt"]  # the array 'w' is skipped
    lr, dropout, layers, opt = panels
    assert lr.get_xscale() == "log" and dropout.get_xscale() == "linear" and layers.get_xscale() == "linear"
    everything, best = (points(c) for c in lr.collections)
    np.testing.assert_allclose(everything[:, 0], history["lr"])
    np.testing.assert_allclose(everything[:, 1], history.fs)
    assert best.tolist() == [[history["lr"][int(np.argmin(history.fs))], history.best_f]]
    assert [t.get_text() for t in opt.get_xticklabels()] == ["adam", "sgd", "{'name': 'momentum'}"]
    assert sorted(set(points(opt.collections[0])[:, 0])) == [0.0, 1.0, 2.0]


def test_marginals_for_chosen_keys_and_errors(history):
    figure = plot_marginals(history, keys=["dropout"])
    assert [ax.get_xlabel() for ax in figure.axes if ax.get_visible()] == ["dropout"]
    plt.close(figure)
    with pytest.raises(ValueError, match=r"cannot plot \['w'\]"):
        plot_marginals(history, keys=["w"])
    with pytest.raises(ValueError, match="no successful evaluation"):
        plot_history(History())
    with pytest.raises(TypeError, match="History"):
        plot_history([1.0, 2.0])


def test_missing_matplotlib_says_how_to_install(history, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(ImportError, match=r'pip install "hopper_jax\[plots\]"'):
        plot_history(history)


def test_the_readme_figure_script_runs_a_real_search(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("make_figures", ROOT / "docs" / "make_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "IMAGES", tmp_path)
    search = module.main(steps=40)
    assert len(search.history) > 20 and "local" in search.history.phases
    assert (tmp_path / "history.png").stat().st_size > 10_000 and (tmp_path / "marginals.png").exists()
