"""The progress bar: budget share, elapsed/remaining time and evaluations/s from the start, best value."""

import io
import re
import time

import hopper_jax as hj
from hopper_jax.search.budget import Budget
from hopper_jax.search.progress import ProgressBar


def _text(bar: ProgressBar) -> str:
    bar.draw(force=True)
    return bar.bar.fp.getvalue().split("\r")[-1]


def test_a_runtime_budget_shows_its_clock_and_the_count_of_evaluations():
    budget = Budget(runtime=100)
    budget.started = time.monotonic() - 30  # 30 s in
    bar = ProgressBar(budget, file=io.StringIO())
    budget.mark_warm()
    bar.advance(5)
    bar.new_best(0.25)
    text = _text(bar)
    assert "Best f: 0.25" in text and " 30%|" in text
    assert re.search(r"5 eval \[00:3[01]<01:0[89], ", text)  # 70 s left, less what this test took


def test_a_steps_budget_estimates_remaining_time_from_the_rate_after_start_up():
    budget = Budget(steps=1000)
    budget.started = time.monotonic() - 60  # a minute of compiling ...
    bar = ProgressBar(budget, file=io.StringIO())
    assert "0/1000 eval [01:00<?, ? eval/s]" in _text(bar)  # no rate before the search is warm
    budget.mark_warm()
    bar.draw(force=True)
    budget.started -= 1.0  # ... then 100 candidates in one second
    budget.step = 100
    bar.advance(100)
    text = _text(bar)
    assert "100/1000 eval" in text and " 10%|" in text
    assert "<00:09," in text or "<00:08," in text  # 900 left at ~100/s, not hours


def test_a_later_run_starts_from_the_search_s_best_and_quiet_prints_nothing(capsys):
    search = hj.Search(x=hj.float(0, 1))
    search.run(lambda c: c["x"], "max", steps=20, seed=0, quiet=True)
    assert capsys.readouterr() == ("", "")
    search.run(lambda c: c["x"], "max", steps=5, seed=1)
    err = capsys.readouterr().err
    first = [line for line in err.split("\r") if "eval [" in line][0]
    assert f"Best f: {search.best_f:0.4g}" in first and "5/5 eval" in err
