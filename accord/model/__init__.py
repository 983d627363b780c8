"""Pydantic types shared by every layer (the vocabulary of declarations and findings)."""

from accord.model.finding import Finding, Severity, Verdict

__all__ = ["Finding", "Severity", "Verdict"]
