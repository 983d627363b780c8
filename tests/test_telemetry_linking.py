"""Account linking: documentary links, naming, workload names, calibrated timing links."""

from __future__ import annotations

import math
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from accord.verify.telemetry.linking import (
    LinkConfig,
    RunSpan,
    UnionFind,
    build_entities,
    handoff_chain_links,
    handoff_links,
    identifier_links,
    naming_links,
    naming_stem,
    poisson_tail,
    workload_links,
)

CFG = LinkConfig()


def test_identifier_links_normalise_org_spelling_and_group_address_blocks() -> None:
    attrs = [
        ("a", "Nimbus Dynamics Ltd", "card-1", "198.18.4.10"),
        ("b", "NIMBUS DYNAMICS LIMITED", "card-2", "198.18.4.200"),
        ("c", "Nimbus Dynamics Co., Ltd.", "card-1", "203.0.113.9"),
        ("d", "Other Org GmbH", "card-3", "2001:db8:1::5"),
        ("e", None, None, "2001:db8:1:ffff::9"),
        ("f", None, None, "not an address"),
    ]
    links = identifier_links(attrs, CFG)
    kinds = {(lk.a, lk.b, lk.kind) for lk in links}
    assert ("a", "b", "organisation") in kinds and ("a", "c", "organisation") in kinds
    assert ("a", "c", "payment") in kinds
    assert ("a", "b", "address_block") in kinds  # same /24
    assert ("d", "e", "address_block") in kinds  # same /48
    assert all(lk.strong for lk in links)
    ents = build_entities("abcdef", links)
    groups = sorted(sorted(g) for g in ents.full.values())
    assert groups == [["a", "b", "c"], ["d", "e"], ["f"]]


def test_naming_and_generic_workloads() -> None:
    assert naming_stem("acme-train-07") == naming_stem("acme_train_12") == "acmetrain"
    links = naming_links(["acme-train-07", "acme_train_12", "u9x", "u7x"], CFG)
    assert [(lk.a, lk.b) for lk in links] == [("acme-train-07", "acme_train_12")]
    assert not links[0].strong
    spans = [
        RunSpan(acc, "H100-SXM", 8.0, stem, 0, 10)
        for acc, stem in [("x", "python"), ("y", "python"), ("x", "zeus-70b"), ("z", "zeus-70b")]
    ]
    assert [(lk.a, lk.b, lk.kind) for lk in workload_links(spans, CFG)] == [
        ("x", "z", "workload_name")
    ]
    crowd = [RunSpan(f"u{i}", "H100-SXM", 8.0, "bert-base", 0, 10) for i in range(20)]
    assert workload_links(crowd, CFG) == []  # a name shared by many is not evidence


def test_union_find_roots_are_deterministic() -> None:
    uf = UnionFind()
    for a, b in [("m", "k"), ("z", "a"), ("k", "z")]:
        uf.union(a, b)
    assert uf.groups() == {"a": ["a", "k", "m", "z"]}


def test_poisson_tail_matches_the_closed_form() -> None:
    for mean in (0.01, 0.5, 3.0, 20.0):
        for k in (0, 1, 2, 5, 12):
            direct = 1 - sum(math.exp(-mean) * mean**i / math.factorial(i) for i in range(k))
            assert math.isclose(
                poisson_tail(k, mean), max(direct, 0.0), rel_tol=1e-6, abs_tol=1e-12
            )
    assert 0 < poisson_tail(40, 0.01) < 1e-60


def _split_run(accounts: list[str], start: int, segments: int, rng: random.Random) -> list[RunSpan]:
    out, t = [], start
    for i in range(segments):
        length = rng.randint(6, 30) * 3600
        out.append(RunSpan(accounts[i % len(accounts)], "H100-SXM", 256.0, "", t, t + length))
        t += length + rng.randint(5, 120) * 60
    return out


def _background(n_accounts: int, n_runs: int, rng: random.Random) -> list[RunSpan]:
    spans = []
    for _ in range(n_runs):
        start = rng.randint(0, 60 * 86400)
        spans.append(
            RunSpan(
                f"bg{rng.randint(0, n_accounts - 1)}",
                "H100-SXM",
                float(rng.choice([8, 64, 256])),
                "",
                start,
                start + rng.randint(1, 48) * 3600,
            )
        )
    return spans


def test_handoff_links_find_a_run_moving_between_accounts() -> None:
    rng = random.Random(7)
    spans = _background(50, 3000, rng) + _split_run(["s1", "s2", "s3"], 86400, 30, rng)
    links = handoff_links(spans, CFG)
    linked = {(lk.a, lk.b) for lk in links}
    assert {("s1", "s2"), ("s2", "s3")} <= linked
    assert all(lk.kind == "timing_handoff" and not lk.strong for lk in links)


@settings(max_examples=8, deadline=None)
@given(st.integers(min_value=0, max_value=10_000))
def test_independent_busy_accounts_are_not_linked_by_timing(seed: int) -> None:
    rng = random.Random(seed)
    # Heavy, skewed users: the situation that fooled a naive hand-off count.
    spans = []
    for _i in range(4000):
        user = min(int(rng.paretovariate(1.2)), 40)
        start = rng.randint(0, 30 * 86400)
        spans.append(
            RunSpan(f"u{user}", "V100-SXM2", 8.0, "", start, start + rng.randint(600, 86400))
        )
    assert handoff_links(spans, CFG) == []


def _once(accounts: list[str], start: int, hours: float, chips: float) -> list[RunSpan]:
    """One run passed through ``accounts`` once each, 1-2 h between segments."""
    out, t = [], start
    for i, account in enumerate(accounts):
        end = t + int(hours * 3600)
        out.append(RunSpan(account, "V100-SXM2", chips, f"seg{i}", t, end))
        t = end + 3600 + 1800 * (i % 2)
    return out


def test_a_run_handed_once_through_five_accounts_is_linked_as_a_chain() -> None:
    rng = random.Random(3)
    accounts = ["h1", "h2", "h3", "h4", "h5"]
    spans = _background(50, 3000, rng) + _once(accounts, 10 * 86400, 60, 128.0)
    # each pair meets once: the pair test cannot see it
    assert not {lk.a for lk in handoff_links(spans, CFG)} & set(accounts)
    links = handoff_chain_links(spans, CFG)
    assert {(lk.a, lk.b) for lk in links} == {
        ("h1", "h2"),
        ("h2", "h3"),
        ("h3", "h4"),
        ("h4", "h5"),
    }
    assert all("chain of 4 hand-offs" in lk.detail and not lk.strong for lk in links)
    # the same chain in a shape that starts all the time (one GPU) is not evidence
    busy = []
    for _ in range(3000):
        start = rng.randint(0, 60 * 86400)
        busy.append(RunSpan(f"bg{rng.randint(0, 49)}", "V100-SXM2", 1.0, "", start, start + 7200))
    assert not handoff_chain_links(busy + _once(accounts, 10 * 86400, 60, 1.0), CFG)


@settings(max_examples=8, deadline=None)
@given(st.integers(min_value=0, max_value=10_000))
def test_independent_accounts_form_no_chance_chains(seed: int) -> None:
    rng = random.Random(seed)
    spans = []
    for _i in range(3000):
        user = min(int(rng.paretovariate(1.2)), 60)
        chips = rng.choice([1.0, 8.0, 64.0, 128.0])
        start = rng.randint(0, 60 * 86400)
        spans.append(
            RunSpan(f"u{user}", "V100-SXM2", chips, "", start, start + rng.randint(600, 86400))
        )
    assert handoff_chain_links(spans, CFG) == []
