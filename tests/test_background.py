"""Tests for hopper_jax._background: work started in a thread and collected later."""

from __future__ import annotations

import threading

from hopper_jax._background import Background


def test_the_result_is_what_the_function_returned_and_it_ran_in_another_thread():
    seen = []

    def work(a, b):
        seen.append(threading.current_thread().name)
        return a + b

    job = Background(work, 2, 3, name="hopper_jax-test")
    assert job.result() == 5
    assert seen == ["hopper_jax-test"]


def test_a_failure_gives_none_so_that_the_caller_does_the_work_itself():
    def fail():
        raise ValueError("no")

    assert Background(fail, name="hopper_jax-test").result() is None


def test_the_thread_is_not_a_daemon_so_the_interpreter_waits_for_it_at_exit():
    gate = threading.Event()
    job = Background(gate.wait, name="hopper_jax-test")
    assert not job._thread.daemon and job._thread.is_alive()
    gate.set()
    assert job.result() is True
