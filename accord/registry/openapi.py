"""The OpenAPI document as checked into docs/openapi.json (regenerate with this module)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any


def document() -> dict[str, Any]:
    from accord.registry.api import create_app
    from accord.registry.demo import DemoClock, demo_settings
    from accord.registry.service import Registry

    with tempfile.TemporaryDirectory() as tmp:
        registry = Registry(demo_settings(Path(tmp), DemoClock(), seeded=True))
        try:
            return create_app(registry).openapi()
        finally:
            registry.close()


def render() -> str:
    return json.dumps(document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    out = Path("docs/openapi.json")
    out.write_text(render(), encoding="utf-8")
    print(f"wrote {out}")
