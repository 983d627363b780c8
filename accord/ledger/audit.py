"""Audit a whole log from nothing but its public key and its static tiles.

The auditor trusts no server: it verifies the checkpoint signature, checks that every full
tile hashes to its entry in the tile above, that the tiles reproduce the signed root, and
that every entry bundle hashes to its level-0 tile. Given a checkpoint seen earlier it also
checks that the log only grew since, and turns a same-size fork into evidence.
"""

from __future__ import annotations

from dataclasses import dataclass

from accord.errors import IntegrityError
from accord.ledger.checkpoint import Checkpoint, open_checkpoint
from accord.ledger.evidence import FALSE_ACCUSATION_BOUND, conflict_evidence
from accord.ledger.hashing import EMPTY_ROOT, leaf_hashes
from accord.ledger.note import Verifier
from accord.ledger.tiles import TileSource, decode_bundle, fetch_tile, tile_path
from accord.ledger.tree import TILE_HEIGHT, TILE_WIDTH, TileCache, TiledTree, tile_width
from accord.model.finding import Finding, Severity, Verdict


@dataclass(frozen=True)
class AuditReport:
    checkpoint: Checkpoint
    note: bytes
    tiles_checked: int
    entries_checked: int
    previous_size: int | None

    def finding(self) -> Finding:
        cp = self.checkpoint
        text = f"all {cp.size} entries and {self.tiles_checked} tiles reproduce the signed root"
        if self.previous_size is not None:
            text += f"; the log is consistent with the earlier size {self.previous_size}"
        return Finding(
            subject=cp.origin,
            verifier="ledger.audit",
            verdict=Verdict.CONSISTENT,
            severity=Severity.INFO,
            statistic={"size": cp.size, "tiles": self.tiles_checked},
            error_bound=FALSE_ACCUSATION_BOUND,
            evidence={"root": cp.root.hex()},
            explanation=text + ".",
        )


def audit(
    source: TileSource,
    log_key: Verifier,
    previous: bytes | None = None,
    check_entries: bool = True,
) -> AuditReport:
    """Verify the log behind ``source``; raises IntegrityError on the first failure."""
    note = source.fetch("checkpoint")
    cp = open_checkpoint(note, log_key).checkpoint
    size = cp.size

    def read(level: int, index: int, width: int) -> bytes:
        return fetch_tile(source, level, index, width)

    tree = TiledTree(size, read, TileCache(max_tiles=64))
    if tree.root() != cp.root:
        raise IntegrityError("tiles", "do not reproduce the checkpoint's root hash")
    checked = 0
    level = 0
    while size >> (TILE_HEIGHT * level):
        count = size >> (TILE_HEIGHT * level)
        for index in range(-(-count // TILE_WIDTH)):
            width = tile_width(size, level, index)
            data = tree.tile(level, index)
            checked += 1
            above = TILE_HEIGHT * (level + 1)
            if width == TILE_WIDTH and tree.tile_root(level, index) != tree.full_hash(above, index):
                raise IntegrityError(
                    tile_path(level, index), "does not hash to its entry in the tile above"
                )
            if level == 0 and check_entries:
                bundle = source.fetch(tile_path("entries", index, width))
                entries = decode_bundle(bundle, width)
                if leaf_hashes(entries) != data:
                    raise IntegrityError(
                        tile_path("entries", index, width), "does not match its level-0 tile"
                    )
        level += 1
    previous_size = None
    if previous is not None:
        old = open_checkpoint(previous, log_key).checkpoint
        if old.size > size:
            raise IntegrityError(
                "previous checkpoint", f"size {old.size} is larger than the log's {size}"
            )
        if (tree.mth(0, old.size) if old.size else EMPTY_ROOT) != old.root:
            raise IntegrityError(
                "previous checkpoint",
                "is not a prefix of the current log: the log rewrote history",
                "keep both checkpoints: they are evidence",
            )
        previous_size = old.size
    return AuditReport(cp, note, checked, size if check_entries else 0, previous_size)


def tree_of(source: TileSource, size: int) -> TiledTree:
    """A tile-backed tree view of ``source`` at ``size`` (verify it with :func:`audit`)."""

    def read(level: int, index: int, width: int) -> bytes:
        return fetch_tile(source, level, index, width)

    return TiledTree(size, read)


def compare_views(
    source_a: TileSource, source_b: TileSource, log_key: Verifier
) -> dict[str, object] | None:
    """Audit two copies of one log (say, what two parties were served) and return a
    split-view evidence bundle if they conflict, or None if one extends the other."""
    report_a = audit(source_a, log_key)
    report_b = audit(source_b, log_key)
    return conflict_evidence(
        log_key,
        report_a.note,
        tree_of(source_a, report_a.checkpoint.size),
        report_b.note,
        tree_of(source_b, report_b.checkpoint.size),
    )
