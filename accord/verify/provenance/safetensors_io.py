"""A defensive, streaming reader (and a small writer) for the safetensors format.

Model files are untrusted evidence and may be tens of gigabytes, so this reader never loads a
whole file: it parses the JSON header itself (8-byte little-endian length, then UTF-8 JSON),
checks every offset against the real file size, and reads one tensor at a time. It needs
only numpy, so the weight tests work without torch or the ``safetensors`` package.

Layout (https://github.com/huggingface/safetensors): ``u64 N`` | ``N bytes JSON`` | data. The
JSON maps tensor names to ``{"dtype", "shape", "data_offsets": [begin, end]}`` (offsets relative
to the start of the data section) plus an optional ``"__metadata__"`` string map.
"""

from __future__ import annotations

import itertools
import json
import math
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from io import BufferedReader
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from accord.errors import AccordError, IntegrityError

# Headers above this size are refused: real ones are a few hundred kB even for 100B models,
# and a forged length must not make us allocate gigabytes.
MAX_HEADER_BYTES = 64 * 1024 * 1024
MAX_TENSORS = 1_000_000

_DTYPES: dict[str, tuple[str, int]] = {
    "F64": ("<f8", 8),
    "F32": ("<f4", 4),
    "F16": ("<f2", 2),
    "BF16": ("<u2", 2),  # decoded by widening to float32
    "I64": ("<i8", 8),
    "I32": ("<i4", 4),
    "I16": ("<i2", 2),
    "I8": ("i1", 1),
    "U8": ("u1", 1),
    "BOOL": ("u1", 1),
}

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class TensorInfo:
    """Where one tensor lives in the file, already bounds-checked."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int  # absolute byte offset in the file
    end: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


def _bad(path: Path, problem: str) -> IntegrityError:
    return IntegrityError(
        str(path),
        f"not a valid safetensors file: {problem}",
        "re-export the model with safetensors.save_file / save_pretrained, or check the download",
    )


def parse_header(
    raw_prefix: bytes, file_size: int, path: Path
) -> tuple[dict[str, TensorInfo], dict[str, str]]:
    """Validate a header given the file's first bytes (at least 8 + N) and its total size."""
    if file_size < 8 or len(raw_prefix) < 8:
        raise _bad(path, f"file is {file_size} bytes, shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", raw_prefix[:8])
    if n == 0 or n > MAX_HEADER_BYTES:
        raise _bad(path, f"header length {n} is outside 1..{MAX_HEADER_BYTES}")
    if 8 + n > file_size or len(raw_prefix) < 8 + n:
        raise _bad(path, f"header of {n} bytes runs past the end of the {file_size}-byte file")
    try:
        header = json.loads(raw_prefix[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        raise _bad(path, f"header is not UTF-8 JSON ({type(err).__name__})") from None
    if not isinstance(header, dict):
        raise _bad(path, "header is not a JSON object")
    if len(header) > MAX_TENSORS:
        raise _bad(path, f"header lists {len(header)} entries, more than {MAX_TENSORS}")
    data_start = 8 + n
    data_size = file_size - data_start
    metadata: dict[str, str] = {}
    infos: dict[str, TensorInfo] = {}
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in entry.items()
            ):
                raise _bad(path, "__metadata__ must map strings to strings")
            metadata = dict(entry)
            continue
        infos[name] = _parse_entry(name, entry, data_start, data_size, path)
    _check_no_overlap(infos, path)
    return infos, metadata


def _parse_entry(name: str, entry: Any, data_start: int, data_size: int, path: Path) -> TensorInfo:
    if not isinstance(entry, dict):
        raise _bad(path, f"entry {name!r} is not an object")
    dtype = entry.get("dtype")
    shape = entry.get("shape")
    offsets = entry.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in _DTYPES:
        raise AccordError(
            str(path),
            f"tensor {name!r} has unsupported dtype {dtype!r}",
            f"supported dtypes: {', '.join(_DTYPES)}",
        )
    if (
        not isinstance(shape, list)
        or len(shape) > 8
        or not all(isinstance(d, int) and not isinstance(d, bool) and 0 <= d < 2**40 for d in shape)
    ):
        raise _bad(path, f"tensor {name!r} has an invalid shape {shape!r}")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
    ):
        raise _bad(path, f"tensor {name!r} has invalid data_offsets {offsets!r}")
    begin, end = offsets
    if not 0 <= begin <= end <= data_size:
        raise _bad(
            path,
            f"tensor {name!r} spans bytes {begin}..{end} but the data section has {data_size}"
            " (file truncated?)",
        )
    expected = math.prod(shape) * _DTYPES[dtype][1]
    if end - begin != expected:
        raise _bad(
            path, f"tensor {name!r} has {end - begin} bytes but {dtype}{shape} needs {expected}"
        )
    return TensorInfo(name, dtype, tuple(shape), data_start + begin, data_start + end)


def _check_no_overlap(infos: Mapping[str, TensorInfo], path: Path) -> None:
    spans = sorted((i.begin, i.end, i.name) for i in infos.values() if i.end > i.begin)
    for (_, end_a, name_a), (begin_b, _, name_b) in itertools.pairwise(spans):
        if begin_b < end_a:
            raise _bad(path, f"tensors {name_a!r} and {name_b!r} overlap")


class SafetensorsFile:
    """One safetensors file, opened for streaming reads.

    Use as a context manager; :meth:`tensor` returns a float32 copy of a single tensor, so peak
    memory is one tensor, never the file.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self._fh = self.path.open("rb")
        except FileNotFoundError:
            raise AccordError(str(path), "file not found", "check the path") from None
        except OSError as err:
            raise AccordError(
                str(path), f"cannot open: {err.strerror}", "check permissions"
            ) from None
        try:
            size = self.path.stat().st_size
            prefix = self._fh.read(8)
            if len(prefix) == 8:
                (n,) = struct.unpack("<Q", prefix)
                if 0 < n <= MAX_HEADER_BYTES:
                    prefix += self._fh.read(n)
            self.infos, self.metadata = parse_header(prefix, size, self.path)
            self._closed = False
        except BaseException:
            self._fh.close()
            raise

    def __enter__(self) -> SafetensorsFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closed = True
        self._fh.close()

    def names(self) -> list[str]:
        return list(self.infos)

    def _decode(self, info: TensorInfo) -> FloatArray:
        if self._closed:
            raise _bad(self.path, "file is closed")
        return _read_out(self._fh, self.path, info)

    def __iter__(self) -> Iterator[str]:
        return iter(self.infos)

    def rows(self, name: str, start: int, stop: int) -> FloatArray:
        """Rows ``start:stop`` of a tensor (first axis), reading only their bytes."""
        info = self.infos.get(name)
        if info is None:
            raise AccordError(str(self.path), f"no tensor named {name!r}", None)
        if not info.shape:
            raise AccordError(str(self.path), f"tensor {name!r} is a scalar", None)
        start, stop = max(0, start), min(info.shape[0], stop)
        tail = info.shape[1:]
        per_row = math.prod(tail) * _DTYPES[info.dtype][1]
        part = TensorInfo(
            name,
            info.dtype,
            (max(0, stop - start), *tail),
            info.begin + start * per_row,
            info.begin + max(start, stop) * per_row,
        )
        if part.numel == 0:
            return np.zeros(part.shape, dtype=np.float32)
        if self._closed:
            raise _bad(self.path, "file is closed")
        out = _read_out(self._fh, self.path, part)
        if not np.isfinite(out).all():
            raise _bad(self.path, f"tensor {name!r} contains NaN or infinity")
        return out.reshape(part.shape)

    def tensor(self, name: str) -> FloatArray:
        """Decode one tensor to float32, reading only its bytes."""
        info = self.infos.get(name)
        if info is None:
            raise AccordError(str(self.path), f"no tensor named {name!r}", None)
        if info.numel == 0:
            return np.zeros(info.shape, dtype=np.float32)
        out = self._decode(info)
        if not np.isfinite(out).all():
            raise _bad(self.path, f"tensor {name!r} contains NaN or infinity")
        return out.reshape(info.shape)


def _read_out(fh: BufferedReader, path: Path, info: TensorInfo) -> FloatArray:
    """Read one tensor's bytes straight into an array and widen it to float32.

    Plain reads rather than a memory map: a map keeps every page it has touched in the
    process's resident set until it is closed, so streaming a large model through one would
    grow memory with the file; here each tensor's buffer is freed when the caller drops it.
    """
    np_dtype, _ = _DTYPES[info.dtype]
    nbytes = info.end - info.begin
    try:
        raw = np.empty(info.numel, dtype=np_dtype)
        fh.seek(info.begin)
        got = fh.readinto(raw.data.cast("B"))
        if got != nbytes:
            raise _bad(path, f"tensor {info.name!r}: read {got} of {nbytes} bytes (file changed?)")
        if info.dtype == "BF16":
            out: FloatArray = (raw.astype(np.uint32) << 16).view(np.float32)
        else:
            out = raw.astype(np.float32, copy=False)
    except MemoryError:
        raise AccordError(
            info.name,
            f"tensor of shape {list(info.shape)} needs {4 * info.numel / 2**30:.1f} GiB as"
            " float32, more memory than this machine can give",
            "run on a machine with more memory, or check that the file is what it claims",
        ) from None
    return out


def write_safetensors(
    path: str | Path,
    tensors: Mapping[str, npt.NDArray[Any]],
    metadata: Mapping[str, str] | None = None,
) -> None:
    """Write tensors (float32/float16/int arrays) in safetensors layout, one tensor at a time.

    Used by the demo zoo and the benchmark so that neither needs the ``safetensors`` package.
    """
    reverse = {np.dtype(v[0]).str: k for k, v in _DTYPES.items() if k not in ("BF16", "BOOL")}
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    offset = 0
    arrays: list[npt.NDArray[Any]] = []
    for name, arr in tensors.items():
        a = np.ascontiguousarray(arr)
        key = a.dtype.newbyteorder("<").str if a.dtype.byteorder not in "|" else a.dtype.str
        dtype = reverse.get(key)
        if dtype is None:
            raise AccordError(name, f"cannot store dtype {a.dtype}", "convert to float32")
        header[name] = {
            "dtype": dtype,
            "shape": list(a.shape),
            "data_offsets": [offset, offset + a.nbytes],
        }
        offset += a.nbytes
        arrays.append(a.astype(a.dtype.newbyteorder("<"), copy=False))
    blob = json.dumps(header, separators=(",", ":")).encode("utf-8")
    blob += b" " * (-len(blob) % 8)  # keep tensor data 8-byte aligned, as the reference writer does
    with Path(path).open("wb") as fh:
        fh.write(struct.pack("<Q", len(blob)))
        fh.write(blob)
        for a in arrays:
            fh.write(a.tobytes())
