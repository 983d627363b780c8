"""Hostile and awkward inputs: refused by their declared shapes, in one line, with exit 2.

Each case runs `accord` as a real process, as a user would, so a traceback, a MemoryError or
a long stall would show up here.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
from pathlib import Path

import numpy as np
from cli_process import accord
from provenance_helpers import random_tinygpt, save, tiny_zoo

from accord.verify.provenance.safetensors_io import write_safetensors


def _sparse_file(path: Path, header: dict[str, object], data_bytes: int) -> Path:
    """A valid-looking safetensors file whose data section is a hole (takes no disk space)."""
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    with path.open("wb") as fh:
        fh.write(struct.pack("<Q", len(blob)))
        fh.write(blob)
        fh.truncate(8 + len(blob) + data_bytes)
    return path


def _one_line_exit_2(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    err = result.stderr + result.stdout
    assert "Traceback" not in err and "MemoryError" not in err, err
    assert needle in err, err
    assert len([line for line in err.splitlines() if line.strip()]) <= 3, err


def test_a_file_claiming_a_128_gib_tensor_is_refused_before_reading(tmp_path: Path) -> None:
    vocab, d = 1 << 25, 1024  # 128 GiB of float32
    size = vocab * d * 4
    header: dict[str, object] = {
        "tok_emb.weight": {"dtype": "F32", "shape": [vocab, d], "data_offsets": [0, size]},
    }
    offset = size
    for i in range(2):
        for name, shape in ((f"blocks.{i}.mlp.fc_in.weight", [64, d]),):
            n = 4 * shape[0] * shape[1]
            header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + n]}
            offset += n
        name, shape = f"blocks.{i}.mlp.fc_out.weight", [d, 64]
        n = 4 * shape[0] * shape[1]
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + n]}
        offset += n
    big = _sparse_file(tmp_path / "big.safetensors", header, offset)
    small = save(tmp_path, "small", random_tinygpt(np.random.default_rng(0)))
    result = accord("provenance", "test", str(big), str(small), timeout=60)
    _one_line_exit_2(result, "GiB of memory")
    assert "big.safetensors" in result.stderr + result.stdout


def _wide(units: int, d: int = 8) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(units)
    t: dict[str, np.ndarray] = {"tok_emb.weight": rng.normal(size=(256, d)).astype(np.float16)}
    for i in range(2):
        t[f"blocks.{i}.mlp.fc_in.weight"] = rng.normal(size=(units, d)).astype(np.float16)
        t[f"blocks.{i}.mlp.fc_out.weight"] = rng.normal(size=(d, units)).astype(np.float16)
    return t


def test_small_files_declaring_huge_mlps_are_refused_at_once(tmp_path: Path) -> None:
    for units in (20_000, 80_000):
        path = tmp_path / f"wide{units}.safetensors"
        write_safetensors(path, _wide(units))
        assert path.stat().st_size < 6 * 2**20
        result = accord("provenance", "test", str(path), str(path), timeout=60)
        _one_line_exit_2(result, f"widest MLP {units} units")
        assert "--max-memory-gib" in result.stderr + result.stdout
    # and the limit is the user's to raise: a generous one lets a moderate model through
    mid = tmp_path / "mid.safetensors"
    write_safetensors(mid, _wide(1_500))
    assert (
        accord("provenance", "test", str(mid), str(mid), "--max-minutes", "0.001").returncode == 2
    )
    # within the limits it runs (a file against itself is derived: exit 1, not 2)
    assert accord("provenance", "test", str(mid), str(mid), "--json").returncode == 1


def test_gated_against_plain_names_both_files_and_the_fix(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    plain = save(tmp_path, "plain", random_tinygpt(rng))
    t = {
        "model.embed_tokens.weight": rng.normal(size=(64, 32)).astype(np.float32),
    }
    for i in range(2):
        p = f"model.layers.{i}.mlp."
        t[p + "gate_proj.weight"] = rng.normal(size=(96, 32)).astype(np.float32)
        t[p + "up_proj.weight"] = rng.normal(size=(96, 32)).astype(np.float32)
        t[p + "down_proj.weight"] = rng.normal(size=(32, 96)).astype(np.float32)
    gated = save(tmp_path, "gated", t)
    result = accord("provenance", "test", str(gated), str(plain))
    _one_line_exit_2(result, "gated MLP")
    out = result.stderr + result.stdout
    assert "gated.safetensors" in out and "plain.safetensors" in out and "--blackbox" in out


def test_bad_blackbox_setup_is_refused_before_any_test(tmp_path: Path) -> None:
    zoo = tiny_zoo()
    child, parent = str(zoo.path("seed0-finetune")), str(zoo.path("seed0"))  # type: ignore[attr-defined]
    few = accord("provenance", "test", child, parent, "--blackbox", "--control", parent)
    _one_line_exit_2(few, "at least 3")
    foreign = save(tmp_path, "foreign", random_tinygpt(np.random.default_rng(2)))
    controls = [str(zoo.path(f"seed{i}")) for i in (1, 2)] + [str(foreign)]  # type: ignore[attr-defined]
    args = [a for c in controls for a in ("--control", c)]
    result = accord("provenance", "test", child, parent, "--blackbox", *args)
    _one_line_exit_2(result, "cannot run it")
    assert "foreign.safetensors" in result.stderr + result.stdout


def test_cli_speaks_of_derivation_and_prints_the_floor_as_a_bound(tmp_path: Path) -> None:
    zoo = tiny_zoo()
    child, parent = str(zoo.path("seed0-finetune")), str(zoo.path("seed0"))  # type: ignore[attr-defined]
    derived = accord("provenance", "test", child, parent)
    assert derived.returncode == 1, derived.stderr  # exit rule: independence does not hold
    assert "derived from the parent" in derived.stdout
    assert "inconsistent" not in derived.stdout.split("\n\n")[0]
    other = str(zoo.path("seed1"))  # type: ignore[attr-defined]
    unrelated = accord("provenance", "test", other, parent)
    assert "no evidence of derivation" in unrelated.stdout and unrelated.returncode == 0
    as_json = json.loads(accord("provenance", "test", child, parent, "--json").stdout)
    assert as_json["verdict"] == "inconsistent"  # the Finding vocabulary stays in JSON
    # a copy of a wide, deep model hits the floor; it prints as a bound, never as 2e-300
    wide = save(tmp_path, "wide", random_tinygpt(np.random.default_rng(3), d_ff=512, layers=6))
    copy = accord("provenance", "test", str(wide), str(wide))
    assert "derived from the parent — p < 2e-300" in copy.stdout  # Holm over two tests at 1e-300
    floors = re.findall(r"(.{2})[\d.]+e-300", copy.stdout)
    assert floors and all(prefix == "< " for prefix in floors), floors
