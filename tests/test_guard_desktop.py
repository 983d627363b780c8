"""The desktop suite is a fair test: its ground truth solves every task and every attack
works when nothing stops it, so a guard's score on it means something."""

from __future__ import annotations

import pytest

pytest.importorskip("agentdojo")

from agentdojo.functions_runtime import FunctionsRuntime

from accord.guard import load_policy
from benchmarks.eval_guard import DESKTOP_POLICY, run_case
from benchmarks.guard.desktop_suite import suite


def _run(task: object) -> tuple[object, object]:
    env = suite.load_and_inject_default_environment({})
    pre = env.model_copy(deep=True)
    runtime = FunctionsRuntime(suite.tools)
    for call in task.ground_truth(pre):  # type: ignore[attr-defined]
        _, error = runtime.run_function(env, call.function, dict(call.args))
        assert error is None, (call.function, error)
    return pre, env


def test_suite_size_and_ground_truth() -> None:
    assert len(suite.user_tasks) >= 20 and len(suite.injection_tasks) >= 10
    for task in suite.user_tasks.values():
        pre, post = _run(task)
        assert task.utility(task.GROUND_TRUTH_OUTPUT, pre, post), task.ID
        assert not task.utility("", pre, pre), task.ID  # doing nothing does not pass


def test_every_attack_lands_without_a_guard() -> None:
    for task in suite.injection_tasks.values():
        pre, post = _run(task)
        assert task.security("", pre, post), task.ID
        assert not task.security("", pre, pre), task.ID


def test_guard_stops_key_exfiltration_but_keeps_the_users_task() -> None:
    from agentdojo.attacks.attack_registry import load_attack

    from benchmarks.eval_guard import ATTACK, _Named

    policy = load_policy(DESKTOP_POLICY)
    user = suite.user_tasks["user_task_1"]
    injection = suite.injection_tasks["injection_task_0"]
    injections = load_attack(ATTACK, suite, _Named()).attack(user, injection)  # type: ignore[arg-type]
    assert run_case(suite, user, injection, injections, "none", policy).security
    guarded = run_case(suite, user, injection, injections, "accord", policy)
    assert guarded.obeyed and not guarded.security and guarded.utility
