"""Evidence for the demonstration year's inspections, made on this machine in seconds.

Small CPU models stand in for frontier ones; everything else is the real thing:

* two recorded training transcripts (the small MLP task, real PyTorch, the real recorder):
  Frontier Labs declares its probe run's compute as recorded, Dragon AI declares a third
  of what its transcript shows;
* two small transformer language models trained on Python's own documentation: Frontier-7's
  stand-in, and Dragon-3's, which is Frontier-7's fine-tuned on code with its hidden units
  permuted (a derivation the weight test undoes) although Dragon-3 is declared as trained
  from scratch;
* a location challenge of Straits Cloud's declared responder, whose round-trip times are the
  real ones WonderProxy measured in 2020 from twelve Asian servers to its Hangzhou server
  (``data/demo_latency_*.csv``): the chips missing from Johor Bahru answer from China;
* a Slurm export of Straits Cloud's cluster in which one customer's run on its B200s is split
  over two accounts, each part under the agreement's 10^25 FLOP declaration threshold, the
  two together above it, and declared by nobody.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from accord.ledger import Signer

DATA = "data"
RESPONDER_SITE = "84"  # WonderProxy's Hangzhou server: where the diverted chips answer from
ISO2 = {
    "Singapore": "SG", "Malaysia": "MY", "Indonesia": "ID", "Vietnam": "VN",
    "Hong Kong": "HK", "China": "CN", "Taiwan": "TW", "Philippines": "PH",
    "Thailand": "TH", "Japan": "JP", "South Korea": "KR",
}  # fmt: skip
PEAK_UTILISATION = 0.4
"""The share of the chips' peak the stand-in runs' declared chip-hours assume."""
H100_PEAK = 989e12
"""H100 SXM dense BF16 FLOP/s, as the catalogue lists it (the stand-in runs declare H100)."""


@dataclass
class DemoEvidence:
    root: Path
    transcripts: dict[str, dict[str, Any]] = field(default_factory=dict)
    """run id -> the recorder's ledger summary (chain head, FLOP, weights hash)."""
    archives: dict[str, bytes] = field(default_factory=dict)
    weights: dict[str, bytes] = field(default_factory=dict)
    """model name -> safetensors bytes."""
    responder: Signer | None = None

    def sha256(self, model: str) -> str:
        return hashlib.sha256(self.weights[model]).hexdigest()

    def chip_hours(self, run_id: str) -> float:
        """Chip-hours that match the transcript's compute at 40 % of an H100's peak."""
        flops = float(self.transcripts[run_id]["declared_training_flops"])
        return flops / (H100_PEAK * PEAK_UTILISATION * 3600)


def prepare(root: Path, responder: Signer) -> DemoEvidence:
    """Record the transcripts and train the models under ``root``; about half a minute."""
    ev = DemoEvidence(root, responder=responder)
    _transcripts(ev)
    _models(ev)
    return ev


def _tar(src: Path) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(src, arcname=".")
    return buf.getvalue()


def _transcripts(ev: DemoEvidence) -> None:
    from accord.verify.training.runs import RunConfig, record_honest_run
    from accord.verify.training.transcript import load_transcript

    for run_id, seed in (("frontier-7-probe", 0), ("dragon-3-probe", 1)):
        out = ev.root / "transcripts" / run_id
        cfg = RunConfig(task="blobs", steps=60, k=10, init_seed=seed, order_seed=seed)
        record_honest_run(out, cfg, run_id=run_id)
        ev.transcripts[run_id] = load_transcript(out).ledger_summary()
        ev.archives[run_id] = _tar(out)


def _models(ev: DemoEvidence) -> None:
    import torch

    from accord.verify.provenance.corpus import stdlib_text
    from accord.verify.provenance.derive import finetune, permute
    from accord.verify.provenance.tinygpt import TinyConfig, TinyGPT, save_model, train

    out = ev.root / "models"
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(7)
    frontier = TinyGPT(TinyConfig(d_model=32, n_layer=2, n_head=4, d_ff=128, ctx=32))
    train(frontier, stdlib_text("docs", 200_000), steps=80, seed=7)
    dragon = permute(finetune(frontier, stdlib_text("code", 200_000), steps=30, seed=8), seed=9)
    for name, model in (("Frontier-7", frontier), ("Dragon-3", dragon)):
        path = out / f"{name}.safetensors"
        save_model(model, path)
        ev.weights[name] = path.read_bytes()


# -- location --------------------------------------------------------------------------------


def _latency() -> tuple[dict[str, dict[str, Any]], dict[tuple[str, str], float]]:
    pkg = resources.files("accord.registry").joinpath(DATA)
    with pkg.joinpath("demo_latency_nodes.csv").open(encoding="utf-8") as fh:
        nodes = {row["id"]: row for row in csv.DictReader(fh)}
    rtts: dict[tuple[str, str], float] = {}
    with pkg.joinpath("demo_latency_rtts.csv").open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            rtts[(row["src_id"], row["dst_id"])] = float(row["rtt_ms"])
    return nodes, rtts


def _rtt(rtts: dict[tuple[str, str], float], a: str, b: str) -> float | None:
    """The landmark's view of the pair: its own measurement, else the reverse one."""
    return rtts.get((a, b), rtts.get((b, a)))


def location_evidence(beacon: bytes, responder: Signer, challenges: int = 2) -> tuple[bytes, bytes]:
    """(landmark list JSON, measurement records JSONL) for one location inspection: each
    landmark sends this inspection's nonces to the responder, and the time it records is the
    real RTT from that landmark's server to the Hangzhou server."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from accord.registry.verify_location import challenge_nonce
    from accord.verify.location.protocol import LandmarkStation, TargetResponder, public_bytes

    nodes, rtts = _latency()
    target = TargetResponder(Ed25519PrivateKey.from_private_bytes(responder.seed))
    rows, records = [], []
    landmarks = [i for i in nodes if i != RESPONDER_SITE]
    for n, ident in enumerate(landmarks):
        rtt = _rtt(rtts, ident, RESPONDER_SITE)
        if rtt is None:
            continue
        node = nodes[ident]
        key = Ed25519PrivateKey.from_private_bytes(
            hashlib.sha256(beacon + b"landmark-key" + ident.encode()).digest()
        )
        station = LandmarkStation(f"wp-{ident}", key)
        rows.append({
            "id": station.landmark_id, "name": node["name"], "lat": float(node["latitude"]),
            "lon": float(node["longitude"]), "country": ISO2[node["country"]],
            "key": public_bytes(key).hex(),
        })  # fmt: skip
        for i in range(challenges):
            challenge = station.issue(challenge_nonce(beacon, station.landmark_id, i))
            frame = target.respond(challenge.encode())
            sent = 1_000_000_000 * (n * 10 + i)
            received = sent + int(rtt * 1e6)
            records.append(
                station.complete(challenge, frame, target.public_key, sent, received).to_json()
            )
    calibration = [
        {"landmark_id": f"wp-{a}", "peer_id": f"wp-{b}", "rtt_ms": rtts[(a, b)]}
        for (a, b) in sorted(rtts)
        if RESPONDER_SITE not in (a, b)
    ]
    doc = {"landmarks": rows, "calibration": calibration}
    return json.dumps(doc).encode(), ("\n".join(records) + "\n").encode()


# -- telemetry -------------------------------------------------------------------------------

SACCT_HEADER = (
    "JobID|JobName|User|Account|Partition|State|Start|End|Elapsed|AllocTRES|NodeList|Cluster"
)


def telemetry_evidence() -> tuple[bytes, bytes]:
    """(sacct export, customer records): 2,000 B200 for 70 days under account ``lotus-a``,
    then 70 more under ``lotus-b``, both accounts on file as Dragon AI's; a small notebook
    job of another customer beside them."""
    tres = "billing=2000,cpu=16000,gres/gpu:b200=2000,gres/gpu=2000,node=250"
    lines = [
        SACCT_HEADER,
        f"71001|lotus-pt|u17|lotus-a|gpu|COMPLETED|2026-08-01T00:00:00|2026-10-10T00:00:00|"
        f"70-00:00:00|{tres}|b[001-250]|jb1",
        f"71877|lotus-pt-resume|u23|lotus-b|gpu|COMPLETED|2026-10-10T02:00:00|"
        f"2026-12-19T02:00:00|70-00:00:00|{tres}|b[001-250]|jb1",
        "72004|eval-notebook|u31|kl-uni|gpu|COMPLETED|2026-09-02T09:00:00|"
        "2026-09-02T12:00:00|03:00:00|billing=8,cpu=8,gres/gpu:l40s=1,gres/gpu=1,node=1|"
        "l017|jb1",
    ]
    kyc = (
        "account,org,payment,ip,country\n"
        "lotus-a,dragon-ai,,,CN\nlotus-b,dragon-ai,,,CN\nkl-uni,kl-university,,,MY\n"
    )
    return ("\n".join(lines) + "\n").encode(), kyc.encode()
