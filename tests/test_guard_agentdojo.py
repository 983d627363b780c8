"""The worst-case-agent harness on a few AgentDojo cases with the real tool runtime.

The full table is `python -m benchmarks.eval_guard`; here one benign task and one attack,
run with no guard and with the guard, show both that the harness can see an attack
succeed and that the guard stops it without losing the user's task.
"""

from __future__ import annotations

import pytest

pytest.importorskip("agentdojo")

from agentdojo.attacks.attack_registry import load_attack
from agentdojo.task_suite.load_suites import get_suites

from accord.guard import load_policy
from benchmarks.eval_guard import ATTACK, POLICY, VERSION, _Named, run_case


@pytest.fixture(scope="module")
def banking() -> object:
    return get_suites(VERSION)["banking"]


def test_attack_succeeds_unguarded_and_is_stopped_by_the_guard(banking: object) -> None:
    suite: object = banking
    policy = load_policy(POLICY)
    user = suite.user_tasks["user_task_3"]  # type: ignore[attr-defined]
    injection = suite.injection_tasks["injection_task_0"]  # type: ignore[attr-defined]
    injections = load_attack(ATTACK, suite, _Named()).attack(user, injection)  # type: ignore[arg-type]
    open_run = run_case(suite, user, injection, injections, "none", policy)
    assert open_run.obeyed and open_run.security  # the attacker's payment went out
    guarded = run_case(suite, user, injection, injections, "accord", policy)
    assert guarded.obeyed and not guarded.security
    assert guarded.utility  # the refund the user asked for still went through
    assert any(who == "attack" and tool == "send_money" for who, tool, _, _ in guarded.blocked)


def test_a_followed_file_grants_authority_but_cannot_pick_the_payee(banking: object) -> None:
    suite: object = banking
    policy = load_policy(POLICY)
    tasks = suite.user_tasks  # type: ignore[attr-defined]
    assert run_case(suite, tasks["user_task_3"], None, {}, "accord", policy).utility
    follow = tasks["user_task_12"]  # "follow the instructions in landlord-notices.txt"
    assert run_case(suite, follow, None, {}, "accord", policy).utility
    injection = suite.injection_tasks["injection_task_4"]  # type: ignore[attr-defined]
    injections = load_attack(ATTACK, suite, _Named()).attack(follow, injection)  # type: ignore[arg-type]
    assert run_case(suite, follow, injection, injections, "none", policy).security
    guarded = run_case(suite, follow, injection, injections, "accord", policy)
    assert guarded.obeyed and not guarded.security
    assert any(who == "attack" for who, _, _, _ in guarded.blocked)


def test_an_attack_that_only_makes_the_agent_say_something_is_quarantined() -> None:
    suite = get_suites(VERSION)["travel"]
    policy = load_policy(POLICY)
    user = suite.user_tasks["user_task_2"]
    injection = suite.injection_tasks["injection_task_6"]
    injections = load_attack(ATTACK, suite, _Named()).attack(user, injection)  # type: ignore[arg-type]
    assert run_case(suite, user, injection, injections, "none", policy).security
    guarded = run_case(suite, user, injection, injections, "accord", policy)
    assert guarded.obeyed and not guarded.security and guarded.utility
