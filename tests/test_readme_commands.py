"""The README's commands, run as a newcomer pastes them: every `accord ...` line of its
```sh blocks, from a fresh directory, with the virtual environment's `bin/` on PATH.

Each must exit 0. Only commands that never return on their own are skipped, and they are
listed here by name.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

# Commands that run until stopped (a server): named here, never skipped silently.
LONG_RUNNING = {("serve",): "serves until Ctrl-C"}


def readme_commands(text: str) -> list[str]:
    """`accord` lines of the ```sh blocks, continuation lines joined."""
    commands: list[str] = []
    for block in re.findall(r"^```sh\n(.*?)^```", text, flags=re.S | re.M):
        joined = re.sub(r"\\\n\s*", " ", block)
        commands.extend(line.strip() for line in joined.splitlines() if line.startswith("accord "))
    return commands


def skipped(command: str) -> str | None:
    words = shlex.split(command, comments=True)[1:]
    for prefix, why in LONG_RUNNING.items():
        if tuple(words[: len(prefix)]) == prefix:
            return why
    return None


COMMANDS = readme_commands(README.read_text(encoding="utf-8"))


def test_the_readme_has_commands_and_the_skip_list_is_used() -> None:
    assert len(COMMANDS) >= 10
    assert any(skipped(c) for c in COMMANDS), "a LONG_RUNNING entry no longer matches"


@pytest.fixture(scope="module")
def newcomer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh directory that sees the checkout's example files, as the repository root
    does, but keeps everything the commands write (var/, run/, zoo/) to itself."""
    work = tmp_path_factory.mktemp("newcomer")
    (work / "examples").symlink_to(ROOT / "examples")
    (work / "tests").symlink_to(ROOT / "tests")
    return work


@pytest.mark.parametrize("command", COMMANDS)
def test_readme_command_runs_as_written(command: str, newcomer_dir: Path) -> None:
    why = skipped(command)
    if why:
        pytest.skip(f"long-running: {why}")
    bin_dir = Path(sys.executable).parent
    if not (bin_dir / "accord").exists():
        pytest.fail(f"no `accord` in {bin_dir}: run `make setup` first", pytrace=False)
    env = os.environ | {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        # The checkout under test, even if the venv's editable install points elsewhere.
        "PYTHONPATH": str(ROOT),
        "COLUMNS": "100",
    }
    result = subprocess.run(
        ["bash", "-c", command],
        cwd=newcomer_dir,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert result.returncode == 0, (
        f"`{command}` exited {result.returncode}\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    )
