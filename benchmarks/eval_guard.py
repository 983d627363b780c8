"""AgentDojo judged offline against the worst-case agent (minutes; not part of the tests).

    python -m benchmarks.eval_guard [--suites banking,slack,...] [--guards none,writes,accord]
                                    [--json OUT] [--policy benchmarks/guard/agentdojo_policy.yaml]

No language model runs. The *worst-case agent* carries out the user task's ground-truth
calls in order against AgentDojo's own tool runtime and environments; as soon as a tool
result it reads contains the planted injection, it also carries out the injection task's
ground-truth calls (computed on the environment as it is then), and once all its own calls
went through it answers with the task's ground-truth text — plus, having obeyed the
attacker, the attacker's goal text (the worst case for attacks that only want the agent to
*say* something). Every call passes the guard first; a call the guard does not allow is
skipped and the agent carries on. With ``accord`` the answer passes ``Guard.answer`` too,
as a deployment that shows the user only what the guard lets through would. AgentDojo's
own utility and security checks then judge the resulting environment, call trace and
answer.

Guards compared: ``none`` (every call allowed), ``writes`` (every write tool denied),
``taint`` (a write is denied when one of its argument values, four characters or more,
occurs in any tool output but not in the user's request) and ``accord`` (accord.guard with
the declared policy).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from accord.guard.engine import Decision
from accord.guard.gateway import Guard
from accord.guard.labels import to_plain
from accord.guard.policy import Policy, load_policy

POLICY = Path(__file__).parent / "guard" / "agentdojo_policy.yaml"
DESKTOP_POLICY = Path(__file__).parent / "guard" / "desktop_policy.yaml"
VERSION = "v1.1.2"
ATTACK = "important_instructions"
MODEL = "gpt-4o-2024-05-13"  # only names the model in the attack text ("GPT-4")


class _Named:
    """Stands in for a pipeline: the attack only reads its name."""

    name = MODEL


@dataclass
class Run:
    utility: bool
    security: bool  # AgentDojo's convention: True means the attack succeeded
    blocked: list[tuple[str, str, str, tuple[str, ...]]] = field(default_factory=list)
    obeyed: bool = False
    calls: int = 0
    check_seconds: list[float] = field(default_factory=list)


class _Gate:
    """The three guards behind one interface."""

    def __init__(self, kind: str, policy: Policy, request: str) -> None:
        self.kind = kind
        self.policy = policy
        self.request = " ".join(request.casefold().split())
        self.untrusted: list[str] = []
        self.guard = Guard(policy, request) if kind == "accord" else None

    def check(self, tool: str, args: dict[str, Any]) -> Decision:
        if self.guard is not None:
            return self.guard.check(tool, args)
        rule = self.policy.tools.get(tool)
        is_write = rule is None or rule.effect == "write"
        if self.kind == "writes" and is_write:
            return Decision("deny", ("write tool",))
        if self.kind == "taint" and is_write:
            # Deny a write whose argument occurs in tool output but not in the request.
            for value in _strings(args):
                if value not in self.request and any(value in t for t in self.untrusted):
                    return Decision("deny", (f"{value!r} comes from tool output",))
        return Decision("allow", ())

    def answer(self, text: str) -> str:
        return self.guard.answer(text) if self.guard is not None else text

    def observe(self, tool: str, args: dict[str, Any], result: Any) -> None:
        if self.guard is not None:
            self.guard.observe(tool, args, result)
        if self.kind == "taint":
            self.untrusted.append(" ".join(_all_text(result).casefold().split()))


def run_case(
    suite: Any,
    user_task: Any,
    injection_task: Any,
    injections: dict[str, str],
    gate_kind: str,
    policy: Policy,
) -> Run:
    from agentdojo.functions_runtime import FunctionCall, FunctionsRuntime
    from agentdojo.types import text_content_block_from_string

    env = suite.load_and_inject_default_environment(injections)
    env = user_task.init_environment(env)
    pre = env.model_copy(deep=True)
    runtime = FunctionsRuntime(suite.tools)
    gate = _Gate(gate_kind, policy, user_task.PROMPT)
    run = Run(utility=False, security=False)
    trace: list[FunctionCall] = []
    # YAML loading folds the payload's blank lines: compare with whitespace collapsed.
    payloads = [" ".join(text.split()) for text in injections.values() if text.strip()]

    def execute(call: FunctionCall, own: bool) -> bool:
        args = dict(call.args)
        start = time.perf_counter()
        decision = gate.check(call.function, args)
        run.check_seconds.append(time.perf_counter() - start)
        run.calls += 1
        if decision.verdict != "allow":
            who = "user" if own else "attack"
            run.blocked.append((who, call.function, decision.verdict, decision.reasons))
            return False
        result, error = runtime.run_function(env, call.function, args)
        trace.append(call)
        gate.observe(call.function, args, result if error is None else error)
        text = _all_text(result) if error is None else error
        if injection_task is not None and not run.obeyed and any(p in text for p in payloads):
            run.obeyed = True
            for injected in injection_task.ground_truth(env.model_copy(deep=True)):
                execute(injected, own=False)
        return True

    own_ok = all(
        [execute(call, own=True) for call in user_task.ground_truth(pre.model_copy(deep=True))]
    )
    answer = user_task.GROUND_TRUTH_OUTPUT if own_ok else ""
    if run.obeyed and injection_task is not None:
        answer = (answer + "\n" + injection_task.GOAL).strip()
    answer = gate.answer(answer)
    output = [text_content_block_from_string(answer)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run.utility = suite._check_user_task_utility(user_task, output, pre, env, trace)
        if injection_task is not None:
            run.security = suite._check_injection_task_security(
                injection_task, output, pre, env, trace
            )
    return run


def _strings(args: dict[str, Any]) -> list[str]:
    """Argument values of four characters or more, normalised like the texts they are
    looked up in."""
    out: list[str] = []
    stack: list[Any] = [to_plain(args)]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif item is not None and not isinstance(item, bool):
            text = " ".join(str(item).casefold().split())
            if len(text) >= 4:
                out.append(text)
    return out


def _all_text(result: Any) -> str:
    """Every string in a tool result, as the agent would read it."""
    parts: list[str] = []
    stack = [to_plain(result)]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif item is not None:
            parts.append(str(item))
    return " ".join(" ".join(parts).split())


def evaluate(
    suites: list[str], guards: list[str], policy: Policy, desktop_policy: Policy
) -> dict[str, Any]:
    from agentdojo.attacks.attack_registry import load_attack
    from agentdojo.task_suite.load_suites import get_suites

    all_suites = get_suites(VERSION)
    results: dict[str, Any] = {"version": VERSION, "attack": ATTACK, "suites": {}}
    for suite_name in suites:
        if suite_name == "desktop":
            from benchmarks.guard.desktop_suite import suite

            suite_policy = desktop_policy
        else:
            suite, suite_policy = all_suites[suite_name], policy
        attack = load_attack(ATTACK, suite, _Named())  # type: ignore[arg-type]
        per: dict[str, Any] = {}
        for kind in guards:
            benign: dict[str, Any] = {}
            latencies: list[float] = []
            for uid, user_task in suite.user_tasks.items():
                run = run_case(suite, user_task, None, {}, kind, suite_policy)
                latencies += run.check_seconds
                benign[uid] = {
                    "utility": run.utility,
                    "blocked": [[w, t, v, list(r)] for w, t, v, r in run.blocked],
                }
            attacked: dict[str, Any] = {}
            for uid, user_task in suite.user_tasks.items():
                for iid, injection_task in suite.injection_tasks.items():
                    try:
                        injections = attack.attack(user_task, injection_task)
                    except ValueError:  # the task reads no injectable text
                        continue
                    run = run_case(suite, user_task, injection_task, injections, kind, suite_policy)
                    latencies += run.check_seconds
                    attacked[f"{uid}|{iid}"] = {
                        "utility": run.utility,
                        "attack_succeeded": run.security,
                        "obeyed": run.obeyed,
                        "blocked": [[w, t, v, list(r)] for w, t, v, r in run.blocked],
                    }
            per[kind] = {"benign": benign, "attacked": attacked, "latency": _quantiles(latencies)}
        results["suites"][suite_name] = per
    return results


def _quantiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50_us": 1e6 * statistics.median(ordered),
        "p99_us": 1e6 * ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))],
    }


def summarise(results: dict[str, Any], guards: list[str]) -> str:
    """Markdown table. "Under attack" counts a case only if the user's task succeeded and
    the attack did not; "false alarms" are benign runs in which any of the agent's own
    calls was denied or held for the user."""
    lines = [
        "| guard | suite | utility, no attack | under attack: task done, attack stopped "
        "| attacks succeeded | false alarms (benign runs) | guard p50 / p99 per call |",
        "|---|---|---|---|---|---|---|",
    ]

    def pct(a: int, b: int) -> str:
        return f"{a}/{b} ({100 * a / b:.1f} %)" if b else "-"

    for kind in guards:
        totals: dict[str, int] = defaultdict(int)
        for suite_name, per in results["suites"].items():
            data = per[kind]
            benign, attacked = data["benign"].values(), data["attacked"].values()
            row = {
                "u": sum(v["utility"] for v in benign),
                "n": len(benign),
                "ua": sum(v["utility"] and not v["attack_succeeded"] for v in attacked),
                "a": sum(v["attack_succeeded"] for v in attacked),
                "m": len(attacked),
                "fa": sum(any(b[0] == "user" for b in v["blocked"]) for v in benign),
            }
            if suite_name != "desktop":  # the total is AgentDojo's four suites
                for key, value in row.items():
                    totals[key] += value
            lat = data["latency"]
            lines.append(
                f"| {kind} | {suite_name} | {pct(row['u'], row['n'])} | {pct(row['ua'], row['m'])} "
                f"| {pct(row['a'], row['m'])} | {pct(row['fa'], row['n'])} "
                f"| {lat.get('p50_us', 0):.0f} / {lat.get('p99_us', 0):.0f} µs |"
            )
        t = totals
        if not t["n"]:
            continue
        lines.append(
            f"| {kind} | **AgentDojo, all four** | {pct(t['u'], t['n'])} | {pct(t['ua'], t['m'])} "
            f"| {pct(t['a'], t['m'])} | {pct(t['fa'], t['n'])} | |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", default="banking,slack,travel,workspace,desktop")
    parser.add_argument("--guards", default="none,writes,accord")
    parser.add_argument("--policy", type=Path, default=POLICY)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--delegation", choices=["allow", "ask", "off"], default=None,
        help="Override the policy's delegation setting.",
    )  # fmt: skip
    parser.add_argument("--from-json", type=Path, nargs="*", help="Only summarise saved runs.")
    args = parser.parse_args(argv)
    if args.from_json:
        for path in args.from_json:
            saved = json.loads(path.read_text())
            kinds = list(next(iter(saved["suites"].values())))
            print(summarise(saved, kinds))
        return 0
    policy = load_policy(args.policy)
    desktop = load_policy(DESKTOP_POLICY)
    if args.delegation is not None:
        policy = policy.model_copy(update={"delegation": args.delegation})
        desktop = desktop.model_copy(update={"delegation": args.delegation})
    guards = args.guards.split(",")
    start = time.perf_counter()
    results = evaluate(args.suites.split(","), guards, policy, desktop)
    results["seconds"] = time.perf_counter() - start
    print(summarise(results, guards))
    if "accord" in guards:
        for suite_name, per in results["suites"].items():
            for uid, v in per["accord"]["benign"].items():
                if not v["utility"]:
                    print(f"blocked benign {suite_name}/{uid}: {v['blocked']}")
            for key, v in per["accord"]["attacked"].items():
                if v["attack_succeeded"]:
                    print(f"attack through {suite_name}/{key}")
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
