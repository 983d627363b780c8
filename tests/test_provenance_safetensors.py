"""The streaming safetensors reader: agreement with the reference library, and defensive parsing."""

from __future__ import annotations

import contextlib
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accord.errors import AccordError, IntegrityError
from accord.verify.provenance.checkpoint import Checkpoint
from accord.verify.provenance.safetensors_io import SafetensorsFile, parse_header, write_safetensors


def test_reads_what_the_reference_library_writes(tmp_path: Path) -> None:
    import torch
    from safetensors.torch import save_file

    rng = np.random.default_rng(0)
    tensors = {
        "f32": torch.from_numpy(rng.normal(size=(3, 5)).astype(np.float32)),
        "f16": torch.from_numpy(rng.normal(size=(7,)).astype(np.float16)),
        "bf16": torch.from_numpy(rng.normal(size=(4, 2)).astype(np.float32)).to(torch.bfloat16),
        "f64": torch.from_numpy(rng.normal(size=(2, 2, 2))),
        "i8": torch.arange(-5, 5, dtype=torch.int8),
        "empty": torch.zeros((0, 3)),
    }
    path = tmp_path / "ref.safetensors"
    save_file(tensors, str(path), metadata={"format": "pt"})
    with SafetensorsFile(path) as f:
        assert f.metadata == {"format": "pt"}
        assert sorted(f.names()) == sorted(tensors)
        for name, ref in tensors.items():
            got = f.tensor(name)
            assert got.shape == tuple(ref.shape)
            np.testing.assert_array_equal(got, ref.to(torch.float32).numpy())


def test_writer_output_is_read_by_the_reference_library(tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    arrays = {"a": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.ones(5, np.float16)}
    path = tmp_path / "ours.safetensors"
    write_safetensors(path, arrays, {"k": "v"})
    back = load_file(str(path))
    for name, arr in arrays.items():
        np.testing.assert_array_equal(back[name], arr)


def _valid_file(tmp_path: Path) -> Path:
    path = tmp_path / "valid.safetensors"
    write_safetensors(
        path, {"w": np.arange(64, dtype=np.float32).reshape(8, 8), "b": np.ones(8, np.float32)}
    )
    return path


def test_truncated_file_is_an_integrity_error(tmp_path: Path) -> None:
    path = _valid_file(tmp_path)
    data = path.read_bytes()
    for cut in (0, 4, 8, 20, len(data) - 1):
        bad = tmp_path / f"cut{cut}.safetensors"
        bad.write_bytes(data[:cut])
        with pytest.raises(IntegrityError):
            SafetensorsFile(bad)


def _with_header(tmp_path: Path, header: object, data: bytes = b"\0" * 32) -> Path:
    blob = json.dumps(header).encode()
    path = tmp_path / "h.safetensors"
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)
    return path


@pytest.mark.parametrize(
    ("header", "needle"),
    [
        (
            {
                "a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]},
                "b": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]},
            },
            "overlap",
        ),
        ({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 12]}}, "needs"),
        ({"a": {"dtype": "F32", "shape": [100], "data_offsets": [0, 400]}}, "truncated"),
        ({"a": {"dtype": "Q4", "shape": [4], "data_offsets": [0, 2]}}, "unsupported dtype"),
        ({"a": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}, "invalid shape"),
        ({"a": {"dtype": "F32", "shape": [4], "data_offsets": [16, 0]}}, "truncated"),
        ({"__metadata__": {"x": 1}}, "__metadata__"),
        ([1, 2, 3], "not a JSON object"),
    ],
)
def test_malformed_headers_are_explained(tmp_path: Path, header: object, needle: str) -> None:
    with pytest.raises(AccordError, match=needle):
        SafetensorsFile(_with_header(tmp_path, header))


def test_nan_weights_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "nan.safetensors"
    write_safetensors(path, {"w": np.array([1.0, np.nan], np.float32)})
    with SafetensorsFile(path) as f, pytest.raises(IntegrityError, match="NaN"):
        f.tensor("w")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_random_bytes_never_crash_the_parser(raw: bytes) -> None:
    with contextlib.suppress(AccordError):
        parse_header(raw, len(raw), Path("fuzz.safetensors"))


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_corrupted_valid_files_fail_cleanly(tmp_path: Path, data: st.DataObject) -> None:
    raw = bytearray(_valid_file(tmp_path).read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        raw = raw[: data.draw(st.integers(0, len(raw)))]
    path = tmp_path / "fuzzed.safetensors"
    path.write_bytes(bytes(raw))
    try:
        with SafetensorsFile(path) as f:
            for name in f.names():
                arr = f.tensor(name)
                assert arr.dtype == np.float32
    except AccordError:
        pass


def test_directory_of_shards_and_duplicates(tmp_path: Path) -> None:
    write_safetensors(tmp_path / "model-00001-of-00002.safetensors", {"a": np.ones(2, np.float32)})
    write_safetensors(tmp_path / "model-00002-of-00002.safetensors", {"b": np.zeros(3, np.float32)})
    with Checkpoint(tmp_path) as ck:
        assert sorted(ck.names()) == ["a", "b"]
        assert ck.num_parameters() == 5
    write_safetensors(tmp_path / "stale.safetensors", {"a": np.ones(2, np.float32)})
    with pytest.raises(AccordError, match="two shards"):
        Checkpoint(tmp_path)


def test_unsupported_and_missing_formats(tmp_path: Path) -> None:
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF\x03\x00\x00\x00")
    with pytest.raises(AccordError, match="GGUF files are not supported"):
        Checkpoint(gguf)
    with pytest.raises(AccordError, match="no such file"):
        Checkpoint(tmp_path / "absent.safetensors")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AccordError, match=r"no \*\.safetensors"):
        Checkpoint(tmp_path / "empty")


def test_pytorch_state_dicts_are_read_without_pickle_code(tmp_path: Path) -> None:
    import torch

    sd = {"w": torch.arange(6, dtype=torch.float32).reshape(2, 3)}
    path = tmp_path / "model.pt"
    torch.save(sd, path)
    with Checkpoint(path) as ck:
        np.testing.assert_array_equal(ck.tensor("w"), sd["w"].numpy())
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a zip")
    with pytest.raises(AccordError, match="PyTorch"):
        Checkpoint(junk)
