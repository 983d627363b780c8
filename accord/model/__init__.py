"""Pydantic types shared by every layer (the vocabulary of declarations and findings)."""

from accord.model.declaration import (
    BODY_MODELS,
    ChipInventoryBody,
    ChipLine,
    ClusterBody,
    Declaration,
    FacilityBody,
    Kind,
    ModelReleaseBody,
    SignedDeclaration,
    TrainingRunBody,
    TransferBody,
    canonical_json,
    json_schemas,
    parse_body,
    parse_signed,
)
from accord.model.finding import Finding, Message, Severity, Verdict

__all__ = [
    "BODY_MODELS",
    "ChipInventoryBody",
    "ChipLine",
    "ClusterBody",
    "Declaration",
    "FacilityBody",
    "Finding",
    "Kind",
    "Message",
    "ModelReleaseBody",
    "Severity",
    "SignedDeclaration",
    "TrainingRunBody",
    "TransferBody",
    "Verdict",
    "canonical_json",
    "json_schemas",
    "parse_body",
    "parse_signed",
]
