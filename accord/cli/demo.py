"""`accord demo`: the main job on embedded defaults, so a newcomer sees what Accord does.

It classifies real chips under every US rule version, checks shipments, shows a stacked
cluster, and cross-checks published training-compute figures — all from packaged data.
"""

from __future__ import annotations

from datetime import date

import typer
from rich.rule import Rule

from accord.cli.output import JSON_OPTION, console, handle_errors, print_json
from accord.cli.output import table as new_table
from accord.compute import cross_check, from_architecture, from_chip_hours
from accord.hardware import default_catalog, performance_density, tpp
from accord.rules import ChipCount, ChipItem, ClusterItem, ModelItem, ShipmentItem, classify
from accord.rules.verdict import Verdict

CLASS_COLUMNS = {"class Oct 2022": "us-bis-2022-10", "class Nov 2023": "us-bis-2023-10"}
TODAY_FOR_DEMO = date(2026, 11, 1)
DEMO_CHIPS = ["A100", "A800", "H100", "H800", "H20", "H200", "RTX 4090", "RTX 4090D", "MI308X"]


def run_demo() -> dict[str, object]:
    """Compute everything the demo shows; pure, so tests can check the same numbers."""
    chips: list[dict[str, object]] = []
    for name in DEMO_CHIPS:
        spec = default_catalog().get(name)
        row: dict[str, object] = {
            "chip": spec.id,
            "tpp": tpp(spec).value,
            "performance_density": performance_density(spec).value,
        }
        for label, rule_set in CLASS_COLUMNS.items():
            row[label] = _class_label(classify(ChipItem(chip=spec.id), rules_at=rule_set))
        license_cn = classify(
            ShipmentItem(
                items=[ChipCount(chip=spec.id, count=1)],
                destination="CN",
                end_user_hq="CN",
                date=TODAY_FOR_DEMO,
            )
        )
        row[f"license to CN on {TODAY_FOR_DEMO}"] = license_cn.status.replace("_", " ")
        chips.append(row)
    shipments = [
        ShipmentItem(
            items=[ChipCount(chip="H100", count=5000)],
            destination="MY",
            end_user_hq="MY",
            date=date(2025, 3, 1),
        ),
        ShipmentItem(
            items=[ChipCount(chip="H100", count=5000)],
            destination="MY",
            end_user_hq="MY",
            date=date(2025, 5, 14),
        ),
        ShipmentItem(
            items=[ChipCount(chip="H100", count=1000)],
            destination="MY",
            end_user_hq="CN",
            date=date(2025, 6, 1),
        ),
        ShipmentItem(
            items=[ChipCount(chip="H20", count=10000)],
            destination="CN",
            end_user_hq="CN",
            date=date(2024, 6, 1),
        ),
        ShipmentItem(
            items=[ChipCount(chip="H20", count=10000)],
            destination="CN",
            end_user_hq="CN",
            date=date(2025, 6, 1),
        ),
    ]
    ship_verdicts = [classify(s) for s in shipments]
    cluster = ClusterItem(
        name="stacked H20 + 4090D cluster",
        country="MY",
        chips=[ChipCount(chip="H20", count=40000), ChipCount(chip="RTX 4090D", count=20000)],
    )
    cluster_verdict = classify(cluster, rules_at=date(2024, 6, 1))
    runs = {
        "GPT-3 175B (Brown et al. 2020: 3.14e23 FLOP)": (
            [from_architecture(175e9, 300e9)],
            3.14e23,
        ),
        "Llama 3.1 405B (Meta 2024: 3.8e25 FLOP)": ([from_architecture(405e9, 15.6e12)], 3.8e25),
        "DeepSeek-V3 (DeepSeek 2024: 37B active, 14.8T tokens, 2.788M H800-hours)": (
            [
                from_architecture(671e9, 14.8e12, active_params=37e9),
                from_chip_hours("H800", 2.788e6, utilisation=(0.2, 0.5)),
            ],
            None,
        ),
    }
    compute_rows = []
    for label, (estimates, declared) in runs.items():
        finding = cross_check(label, estimates, declared)
        flop = estimates[0].flop
        thresholds = classify(
            ModelItem(name=label, training_compute=flop, open_weights=False),
            rules_at=date(2025, 3, 1),
        )
        compute_rows.append(
            {
                "run": label,
                "estimates": estimates,
                "cross_check": finding,
                "thresholds_2025_03_01": thresholds.headline,
            }
        )
    return {
        "chips": chips,
        "shipments": ship_verdicts,
        "cluster": cluster_verdict,
        "compute": compute_rows,
    }


def _class_label(v: Verdict) -> str:
    if v.classes:
        return ", ".join(v.classes)
    if v.possible_classes:
        return "unknown (figures not public)"
    return "not controlled"


def register(app: typer.Typer) -> None:
    @app.command("demo")
    @handle_errors
    def demo(as_json: bool = JSON_OPTION) -> None:
        """Walk through the accounting on packaged data: chips, shipments, a cluster, compute."""
        result = run_demo()
        if as_json:
            print_json(result)
            return
        console.print(Rule("1. Chips under each US rule version (export class)"))
        rows = result["chips"]
        assert isinstance(rows, list)
        first = str(next(iter(rows[0])))
        table = new_table(
            *[str(key).replace("_", " ") for key in rows[0]], ids=(first.replace("_", " "),)
        )
        for row in rows:
            table.add_row(*[_cell(v) for v in row.values()])
        console.print(table)
        console.print(Rule("2. Shipments"))
        for v in result["shipments"]:  # type: ignore[attr-defined]
            console.print(f"{v.on}: {v.headline}")
        console.print(Rule("3. Stacking weaker chips"))
        console.print(result["cluster"].headline)  # type: ignore[attr-defined]
        console.print(Rule("4. Training compute, published figures cross-checked"))
        for row in result["compute"]:  # type: ignore[attr-defined]
            console.print(f"[bold]{row['run']}[/]")
            for e in row["estimates"]:
                console.print(f"  {e.method}: {e.flop} — {e.derivation}")
            console.print(
                f"  cross-check: {row['cross_check'].verdict}; {row['thresholds_2025_03_01']}"
            )


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.0f}" if value > 100 else f"{value:.2f}"
    return "unknown" if value is None else str(value)
