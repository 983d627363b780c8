"""One error type for everything a user can get wrong.

Every layer raises :class:`AccordError` for bad input so that the CLI and the HTTP API can
answer with one clear line naming the field and the fix, never a traceback.
"""

from __future__ import annotations


class AccordError(Exception):
    """Bad input or an impossible request, explained for the person who made it.

    ``field`` names the offending input (a CLI option, a JSON path, a file), ``fix`` says
    what to do instead. ``str(err)`` is the one-line message shown to users.
    """

    def __init__(self, field: str, problem: str, fix: str | None = None) -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        text = f"{self.field}: {self.problem}"
        if self.fix:
            text += f" — {self.fix}"
        return text

    def to_dict(self) -> dict[str, str | None]:
        return {"field": self.field, "problem": self.problem, "fix": self.fix}


class NotFoundError(AccordError):
    """A named thing (chip, country, rule set, log entry) does not exist."""


class IntegrityError(AccordError):
    """Untrusted bytes failed a cryptographic or structural check (proofs, notes, files)."""
