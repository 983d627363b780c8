"""`accord provenance`: was this model derived from that one?"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from accord.cli.output import JSON_OPTION, console, exit_for, handle_errors, print_json

NAME = "provenance"
app = typer.Typer(
    help="Model provenance: test whether SUSPECT was derived from PARENT (weights or outputs).",
    no_args_is_help=True,
)


def meaning(finding: Any) -> str:
    """What a verdict means for this question, in words (JSON keeps the Finding vocabulary)."""
    from accord.verify.provenance.stats import format_p

    bound = bool(finding.statistic.get("p_value_is_upper_bound", False))
    p = format_p(finding.p_value if finding.p_value is not None else 1.0, bound)
    alpha = finding.statistic.get("alpha")
    p_text = f"p {p}" if p.startswith("<") else f"p = {p}"
    if finding.verdict == "inconsistent":
        return f"derived from the parent — {p_text} (below alpha = {alpha})"
    if finding.verdict == "consistent":
        return f"no evidence of derivation — {p_text} (not below alpha = {alpha})"
    return "inconclusive — the evidence does not support either answer (see below)"


def _show(finding: Any) -> None:
    from rich.panel import Panel
    from rich.table import Table

    from accord.verify.provenance.stats import format_p

    colour = {"inconsistent": "red", "consistent": "green"}.get(str(finding.verdict), "yellow")
    console.print(
        Panel(
            f"[bold]{finding.subject}[/]\n[{colour}]{meaning(finding)}[/]   ({finding.verifier})",
            expand=False,
        )
    )
    stat = finding.statistic
    if "tests" in stat:
        table = Table(title="weight tests (per block)")
        for col in ("test", "parent block", "suspect block", "units", "Spearman ρ", "p-value"):
            table.add_column(col)
        for test in stat["tests"]:
            for b in test["blocks"]:
                table.add_row(
                    test["method"],
                    str(b["parent_block"]),
                    str(b["suspect_block"]),
                    str(b["units"]),
                    f"{b['spearman_rho']:.3f}",
                    format_p(b["p_value"]),
                )
            combined = format_p(test["p_value"]) if test["conclusive"] else "no evidence"
            table.add_row(test["method"], "", "", "", "[bold]combined[/]", combined)
        console.print(table)
        console.print(
            f"HuRef invariant cosine: {stat['huref_invariant_cosine']:.3f} (a score with no"
            " threshold, not evidence: independent pairs have scored up to 0.91, derived ones"
            " as low as 0.06)"
        )
        for test in stat["tests"]:
            for note in test["notes"]:
                console.print(f"[yellow]note[/] {note}")
    else:
        table = Table(title="black-box tests")
        for col in ("test", "statistic", "independent pairs (min–max)", "p-value", "Holm"):
            table.add_column(col)
        a, d = stat["agreement"], stat["distillation"]
        table.add_row(
            "agreement",
            f"{a['similarity']:.4f}",
            f"{min(a['null_similarities']):.4f}–{max(a['null_similarities']):.4f}",
            format_p(a["p_value"]),
            format_p(stat["holm_adjusted"]["agreement"]),
        )
        table.add_row(
            "distillation",
            f"{d['residual_correlation']:.4f}",
            f"{min(d['null_correlations']):.4f}–{max(d['null_correlations']):.4f}",
            format_p(d["p_value"]),
            format_p(stat["holm_adjusted"]["distillation"]),
        )
        q = stat["sequence"]
        if "skipped" in q:
            table.add_row("sequence", "not run", q["skipped"], "", "")
        else:
            table.add_row(
                "sequence",
                f"{q['lean_towards_parent']:.4f}",
                f"{min(q['null_leans']):.4f}–{max(q['null_leans']):.4f}",
                format_p(q["p_value"]),
                format_p(stat["holm_adjusted"]["sequence"]),
            )
        console.print(table)
    console.print(finding.explanation, soft_wrap=True)


@app.command("test")
@handle_errors
def test_cmd(
    suspect: Path = typer.Argument(..., help="Suspect model: a safetensors file or folder."),
    parent: Path = typer.Argument(
        ..., help="Candidate parent model: a safetensors file or folder."
    ),
    blackbox: bool = typer.Option(
        False, "--blackbox", help="Also compare outputs (needs --control models Accord can run)."
    ),
    control: list[Path] = typer.Option(
        [],
        "--control",
        help="An independent control model (repeat; >= 3 for --blackbox, >= 5 for its"
        " sequence test).",
    ),
    method: str = typer.Option("both", help="Weight test: both, robust or constrained."),
    alpha: float | None = typer.Option(
        None,
        help="Significance level for the verdicts (default: 1e-6 for the weight test, 0.001 for"
        " the black-box test; see docs/provenance.md for the calibration).",
    ),
    prompts: int = typer.Option(
        256,
        min=32,
        max=4096,
        help="Prompts for the black-box tests (more: more power against students, slower).",
    ),
    max_memory_gib: float = typer.Option(
        4.0, min=0.01, help="Refuse models whose declared shapes need more memory than this."
    ),
    max_minutes: float = typer.Option(
        10.0, min=0.01, help="Refuse models whose declared shapes would take longer than this."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Test whether SUSPECT was derived from PARENT; prints statistic, p-value and limits.

    Exits 0 when every test is consistent with independence, 1 when one is not.
    """
    from accord.verify.provenance.api import (
        check_blackbox_setup,
        compare_outputs,
        compare_weights,
    )
    from accord.verify.provenance.budget import GIB, Limits

    if blackbox:
        check_blackbox_setup(suspect, parent, control)
    limits = Limits(int(max_memory_gib * GIB), max_minutes * 60.0)
    from accord.verify.provenance.api import BLACKBOX_ALPHA, WEIGHT_ALPHA

    findings = [
        compare_weights(suspect, parent, method=method, alpha=alpha or WEIGHT_ALPHA, limits=limits)
    ]
    if blackbox:
        findings.append(
            compare_outputs(
                suspect, parent, control, alpha=alpha or BLACKBOX_ALPHA, n_prompts=prompts
            )
        )
    if as_json:
        print_json(findings if blackbox else findings[0])
    else:
        for f in findings:
            _show(f)
    # The claim checked is independence: exit 1 when a test finds SUSPECT derived.
    exit_for([f.verdict for f in findings])


@app.command("zoo")
@handle_errors
def zoo_cmd(
    out_dir: Path = typer.Argument(..., help="Folder to write the demo zoo to."),
    seeds: int = typer.Option(5, min=2, help="Independently trained base models."),
    steps: int = typer.Option(200, min=1, help="Training steps per base model."),
    d_model: int = typer.Option(64, min=8, help="Residual width."),
    n_layer: int = typer.Option(2, min=1, help="Transformer blocks."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Train a small demo zoo (base models + derivatives of seed0) to try `provenance test` on."""
    from rich.progress import Progress

    from accord.verify.provenance.zoo import ZooSpec, build_zoo

    spec = ZooSpec(
        d_model=d_model,
        n_layer=n_layer,
        n_head=4 if d_model % 4 == 0 else 1,
        d_ff=4 * d_model,
        seeds=seeds,
        steps=steps,
        finetune_steps=max(1, steps // 3),
        distill_steps=steps,
    )
    total = seeds + spec.parents * len(spec.derivations)
    if as_json:
        zoo = build_zoo(out_dir, spec)
    else:
        with Progress(console=console) as progress:
            task = progress.add_task("training the zoo", total=total)

            def tick(message: str) -> None:
                progress.update(task, advance=1, description=message)

            zoo = build_zoo(out_dir, spec, tick)
    rows = [
        {"name": e.name, "kind": e.kind, "parent": e.parent, "file": str(out_dir / e.file)}
        for e in zoo.entries
    ]
    if as_json:
        print_json({"zoo": str(out_dir), "models": rows})
        return
    from accord.cli.output import table as new_table

    table = new_table("model", "kind", "parent", "file", title=f"zoo in {out_dir}", ids=("file",))
    for r in rows:
        table.add_row(r["name"], r["kind"], r["parent"] or "", r["file"])
    console.print(table)
    console.print(
        f"Try: accord provenance test {out_dir}/seed0-finetune_permuted.safetensors"
        f" {out_dir}/seed0.safetensors --blackbox"
        + "".join(f" --control {out_dir}/seed{i}.safetensors" for i in range(1, seeds))
    )
