"""Accord: the verification layer for international AI agreements and AI export controls.

Parties *declare*, Accord *accounts* (hardware, rules, compute), independent evidence
*verifies*, and a witnessed Merkle log *records*. The library is the product; the CLI and
the registry service are thin shells over it.
"""

__version__ = "0.1.0"
