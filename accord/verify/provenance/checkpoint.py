"""Open a model checkpoint (file or directory) as a lazy name -> tensor source.

Safetensors is the preferred format: it is streamed. PyTorch ``.pt``/``.bin`` files are read
with ``torch.load(weights_only=True, mmap=True)`` (no pickle code execution, no full copy in
memory) when torch is installed. Anything else gets a clear "unsupported format" error rather
than a guess.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from accord.errors import AccordError, NotFoundError
from accord.verify.provenance.safetensors_io import FloatArray, SafetensorsFile

_TORCH_SUFFIXES = {".pt", ".pth", ".bin"}
_KNOWN_UNSUPPORTED = {
    ".gguf": "GGUF",
    ".ggml": "GGML",
    ".onnx": "ONNX",
    ".h5": "Keras HDF5",
    ".ckpt": "TensorFlow/Lightning checkpoint",
    ".pkl": "pickle",
    ".npz": "numpy archive",
}


class Checkpoint:
    """A set of named weight tensors read one at a time.

    Shards of one model (``model-00001-of-00002.safetensors`` ...) in a directory are merged;
    a name present in two shards is an error, since it would make the model ambiguous.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._files: list[SafetensorsFile] = []
        self._where: dict[str, SafetensorsFile] = {}
        self._torch: dict[str, Any] | None = None
        self.metadata: dict[str, str] = {}
        if not self.path.exists():
            raise NotFoundError(str(path), "no such file or directory", "check the path")
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        if self.path.is_dir():
            files = sorted(self.path.glob("*.safetensors"))
            if not files:
                torch_files = sorted(p for p in self.path.iterdir() if p.suffix in _TORCH_SUFFIXES)
                if len(torch_files) == 1:
                    self._open_torch(torch_files[0])
                    return
                raise AccordError(
                    str(self.path),
                    "directory holds no *.safetensors file (and not exactly one PyTorch file)",
                    "point at the model file itself, or a folder of safetensors shards",
                )
            for f in files:
                self._add_safetensors(f)
            return
        suffix = self.path.suffix.lower()
        if suffix in _TORCH_SUFFIXES:
            self._open_torch(self.path)
        elif suffix in _KNOWN_UNSUPPORTED:
            raise AccordError(
                str(self.path),
                f"{_KNOWN_UNSUPPORTED[suffix]} files are not supported",
                "convert the weights to safetensors (e.g. transformers save_pretrained"
                " with safe_serialization=True)",
            )
        else:
            self._add_safetensors(self.path)

    def _add_safetensors(self, path: Path) -> None:
        f = SafetensorsFile(path)
        self._files.append(f)
        for name in f.names():
            if name in self._where:
                raise AccordError(
                    str(path),
                    f"tensor {name!r} appears in two shards",
                    "remove duplicate or stale shard files from the folder",
                )
            self._where[name] = f
        self.metadata.update(f.metadata)

    def _open_torch(self, path: Path) -> None:
        try:
            import torch
        except ImportError:
            raise AccordError(
                str(path),
                "reading PyTorch files needs torch",
                "pip install 'accord[torch]' or convert the file to safetensors",
            ) from None
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
        except Exception as err:  # torch raises many types for corrupt archives
            raise AccordError(
                str(path),
                f"not a readable PyTorch weights file ({type(err).__name__})",
                "use a state_dict saved with torch.save, or convert to safetensors",
            ) from None
        if isinstance(obj, dict) and isinstance(obj.get("state_dict"), dict):
            obj = obj["state_dict"]
        if not isinstance(obj, dict) or not all(
            isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items()
        ):
            raise AccordError(
                str(path),
                "PyTorch file does not hold a flat state_dict of tensors",
                "save model.state_dict() rather than the model object",
            )
        self._torch = obj

    def close(self) -> None:
        for f in self._files:
            f.close()
        self._files.clear()
        self._torch = None

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def names(self) -> list[str]:
        if self._torch is not None:
            return list(self._torch)
        return list(self._where)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __contains__(self, name: object) -> bool:
        return name in (self._torch if self._torch is not None else self._where)

    def shape(self, name: str) -> tuple[int, ...]:
        if self._torch is not None:
            return tuple(int(d) for d in self._torch[name].shape)
        return self._where[name].infos[name].shape

    def tensor(self, name: str) -> FloatArray:
        if self._torch is not None:
            t = self._torch.get(name)
            if t is None:
                raise AccordError(str(self.path), f"no tensor named {name!r}", None)
            import torch

            out: FloatArray = t.detach().to(dtype=torch.float32).numpy().copy()
            return out
        f = self._where.get(name)
        if f is None:
            raise AccordError(str(self.path), f"no tensor named {name!r}", None)
        return f.tensor(name)

    def rows(self, name: str, start: int, stop: int) -> FloatArray:
        """Rows ``start:stop`` of a tensor without reading the rest (safetensors) or copying
        it (PyTorch files are memory-mapped)."""
        if self._torch is not None:
            t = self._torch.get(name)
            if t is None:
                raise AccordError(str(self.path), f"no tensor named {name!r}", None)
            import torch

            out: FloatArray = t[start:stop].detach().to(dtype=torch.float32).numpy().copy()
            return out
        f = self._where.get(name)
        if f is None:
            raise AccordError(str(self.path), f"no tensor named {name!r}", None)
        return f.rows(name, start, stop)

    def num_parameters(self) -> int:
        total = 0
        for n in self.names():
            size = 1
            for d in self.shape(n):
                size *= d
            total += size
        return total
