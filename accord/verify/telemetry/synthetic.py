"""SYNTHETIC cluster traces and injected split runs, for evaluation and benchmarks only.

These traces are *generated*: they give the scale benchmarks (10^7-10^8 records) and a
busy multi-region background with customer identifiers, which the public job traces lack.
The evaluation on a real trace (Alibaba's 2023 GPU trace) is ``trace_eval.py``. Nothing
produced by this module is real telemetry, and every result computed on it must say so.

What is calibrated, and to what:

* cluster size 1,144 GPUs — the Venus cluster's total in ``cluster_gpu_number.csv`` on
  2020-09-01 (HeliosData README, S-Lab-System-Group/HeliosData);
* GPU-job arrival rate 1,580,464 GPU jobs / 4 clusters / 6 months ≈ 2,159 per cluster-day
  (same README: "Total number of GPU jobs: 1,580,464", 4 clusters, 6 months);
* hashed user ids (``u`` + letters) as in Helios, and fractional-free GPU counts as in
  Helios ``gpu_num``.

What is assumed (not taken from a published figure): the GPU-count mix (mostly 1 GPU,
powers of two up to 64), a log-normal job duration whose mean is set so the cluster is
70 % busy, Zipf-skewed activity across 300 users and 40 organisations, a 90 % home-region
share, the workload-name vocabulary, and the chip (V100; Helios does not name its GPUs).
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from accord.verify.telemetry.registry import DeclaredRun
from accord.verify.telemetry.schema import SCHEMA

BASE_EPOCH = 1_735_689_600  # 2025-01-01T00:00:00Z; synthetic dates carry no meaning
V100_PEAK = 125e12  # legacy_accelerators.yaml, V100-SXM2 fp16 tensor peak

FACILITIES = (
    ("us-east", "US"),
    ("us-west", "US"),
    ("eu-central", "DE"),
    ("ap-southeast", "SG"),
    ("me-central", "AE"),
    ("ap-northeast", "JP"),
    ("sa-east", "BR"),
    ("af-south", "ZA"),
)
SHARED_WORKLOADS = (
    "bert-base", "resnet50", "gpt2-small", "yolov5", "llama-finetune", "stable-diffusion",
    "vit-b16", "t5-large", "whisper-ft", "mae-pretrain",
)  # fmt: skip
GENERIC = ("train", "python", "bash", "jupyter", "eval")
RESTART = ("", "", "-restart-{n}", "_resume{n}", ".ckpt{n}")


@dataclass(frozen=True)
class TraceProfile:
    name: str
    cluster_gpus: int
    gpu_jobs_per_day: float
    busy_fraction: float
    chip: str
    peak_flops: float
    users: int
    orgs: int
    gpu_counts: tuple[int, ...]
    gpu_probs: tuple[float, ...]
    duration_sigma: float
    max_duration_s: int
    sources: tuple[str, ...]
    assumptions: tuple[str, ...]


HELIOS_LIKE = TraceProfile(
    name="helios-venus-like (synthetic)",
    cluster_gpus=1144,
    gpu_jobs_per_day=1_580_464 / 4 / (6 * 30.5),
    busy_fraction=0.7,
    chip="V100",
    peak_flops=V100_PEAK,
    users=300,
    orgs=40,
    gpu_counts=(1, 2, 4, 8, 16, 32, 64),
    gpu_probs=(0.55, 0.12, 0.12, 0.13, 0.05, 0.02, 0.01),
    duration_sigma=2.0,
    max_duration_s=14 * 86400,
    sources=(
        "HeliosData README: Venus cluster 1,144 GPUs (cluster_gpu_number.csv, 2020-09-01)",
        "HeliosData README: 1,580,464 GPU jobs, 4 clusters, 6 months",
    ),
    assumptions=(
        "GPU-count mix 55% 1 GPU ... 1% 64 GPUs (assumed)",
        "log-normal durations, sigma 2.0, mean set for 70% busy cluster (assumed)",
        "Zipf activity over 300 users / 40 organisations (assumed)",
        "chip V100 for every job (Helios names no GPU model; assumed)",
    ),
)


def _hashed(rng: np.random.Generator, n: int, prefix: str = "u", length: int = 6) -> list[str]:
    letters = np.array(list(string.ascii_letters + string.digits))
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        name = prefix + "".join(rng.choice(letters, size=length))
        if name not in seen:
            seen.add(name)
            out.append(name)
    return out


def _zipf(n: int, s: float) -> np.ndarray:
    w: np.ndarray = 1.0 / np.arange(1, n + 1) ** s
    out: np.ndarray = w / w.sum()
    return out


@dataclass
class Population:
    """Background customers: accounts with their organisation, card, address and region."""

    accounts: list[str]
    org: list[str | None]
    payment: list[str]
    ip: list[str]
    home: np.ndarray
    weights: np.ndarray


def population(profile: TraceProfile, rng: np.random.Generator) -> Population:
    users = _hashed(rng, profile.users)
    org_of = np.where(
        rng.random(profile.users) < 0.7,
        rng.choice(profile.orgs, size=profile.users, p=_zipf(profile.orgs, 1.0)),
        -1,
    )
    orgs: list[str | None] = [f"Synthetic Org {o:03d} Ltd" if o >= 0 else None for o in org_of]
    payment = [
        f"pm_org{o:03d}" if o >= 0 else f"pm_{u}" for o, u in zip(org_of, users, strict=True)
    ]
    ips = []
    for i, o in enumerate(org_of):
        if o >= 0 and rng.random() < 0.5:
            ips.append(f"10.{o // 256}.{o % 256}.{rng.integers(1, 255)}")
        else:
            ips.append(f"172.{rng.integers(16, 32)}.{rng.integers(0, 256)}.{(i % 250) + 1}")
    home = rng.integers(0, len(FACILITIES), size=profile.users)
    return Population(users, orgs, payment, ips, home, _zipf(profile.users, 1.1))


def background(
    profile: TraceProfile,
    *,
    days: float,
    seed: int,
    n_jobs: int | None = None,
    pop: Population | None = None,
) -> tuple[pa.Table, Population]:
    """Ordinary jobs of a shared GPU cluster (SYNTHETIC)."""
    rng = np.random.default_rng(seed)
    pop = pop or population(profile, rng)
    n = int(n_jobs if n_jobs is not None else round(profile.gpu_jobs_per_day * days))
    horizon = int(days * 86400)
    start = BASE_EPOCH + rng.integers(0, horizon, size=n)
    gpus = rng.choice(np.array(profile.gpu_counts), size=n, p=np.array(profile.gpu_probs))
    mean_gpu_s = profile.cluster_gpus * 86400 * profile.busy_fraction / profile.gpu_jobs_per_day
    mean_dur = mean_gpu_s / float(np.dot(profile.gpu_counts, profile.gpu_probs))
    mu = np.log(mean_dur) - profile.duration_sigma**2 / 2
    dur = np.clip(rng.lognormal(mu, profile.duration_sigma, size=n), 10, profile.max_duration_s)
    user = rng.choice(len(pop.accounts), size=n, p=pop.weights)
    away = rng.random(n) < 0.1
    fac = np.where(away, rng.integers(0, len(FACILITIES), size=n), pop.home[user])
    kind = rng.random(n)
    wl = rng.integers(0, 20, size=n)
    restart = rng.integers(0, len(RESTART), size=n)
    accounts = np.array(pop.accounts, dtype=object)[user]
    own = np.char.add(np.char.add(accounts.astype(str), "-m"), wl.astype(str))
    base = np.where(
        kind < 0.3,
        np.array(GENERIC)[wl % len(GENERIC)],
        np.where(kind < 0.55, np.array(SHARED_WORKLOADS)[wl % len(SHARED_WORKLOADS)], own),
    )
    suffixes = np.array([[r.format(n=k + 1) for k in range(9)] for r in RESTART])
    names = np.char.add(base, suffixes[restart, wl % 9])
    job_ids = np.char.add(f"bg{seed}-", np.arange(n).astype(str))
    org = np.array(pop.org, dtype=object)[user]
    table = pa.table(
        {
            "account": pa.array(accounts.tolist(), pa.string()),
            "job_id": pa.array(job_ids.tolist(), pa.string()),
            "job_name": pa.array(names.tolist(), pa.string()),
            "chip": pa.array([profile.chip] * n, pa.string()),
            "chip_count": pa.array(gpus.astype("float64")),
            "start": pa.array(start.astype("int64")),
            "end": pa.array((start + dur.astype("int64")).astype("int64")),
            "facility": pa.array([FACILITIES[f][0] for f in fac], pa.string()),
            "country": pa.array([FACILITIES[f][1] for f in fac], pa.string()),
            "org": pa.array(org.tolist(), pa.string()),
            "payment": pa.array(np.array(pop.payment, dtype=object)[user].tolist(), pa.string()),
            "ip": pa.array(np.array(pop.ip, dtype=object)[user].tolist(), pa.string()),
            "source": pa.array(["synthetic"] * n, pa.string()),
            "workload": pa.nulls(n, pa.string()),
        },
        schema=SCHEMA,
    )
    return table, pop


EVIDENCE = (
    "payment",
    "organisation",
    "address_block",
    "workload_name",
    "account_naming",
    "timing_only",
)


@dataclass
class Injected:
    """One injected actor: ground truth for the evaluation."""

    id: str
    kind: str  # "undeclared" | "declared" | "subthreshold"
    accounts: list[str]
    evidence: list[str]
    flop_lo: float
    flop_hi: float
    evasive_gaps: bool
    declaration: DeclaredRun | None = None
    jobs: list[dict[str, object]] = field(default_factory=list)


_ORG_VARIANTS = ("{n} Ltd", "{N} LIMITED", "{n} Co., Ltd.", "{n} Limited", "{n} Inc.")


def inject(
    kind: str,
    number: int,
    *,
    threshold: float,
    profile: TraceProfile,
    days: float,
    rng: np.random.Generator,
    evidence: list[str] | None = None,
    util_lo: float = 0.3,
    util_hi: float = 0.5,
) -> Injected:
    """A run spread over linked accounts, regions and time (SYNTHETIC).

    ``undeclared`` and ``declared`` runs have a lower bound of 1.2-3x the threshold;
    ``subthreshold`` runs an upper bound of 0.2-0.8x.
    """
    k = int(rng.integers(2, 7))
    chosen = evidence or [str(e) for e in rng.choice(EVIDENCE, size=int(rng.integers(1, 3)))]
    company = f"Actor {number:03d} {rng.choice(['Dynamics', 'Analytics', 'Systems', 'Labs'])}"
    stem = f"actor{number:03d}ops"
    if "account_naming" in chosen:
        accounts = [f"{stem}{j + 1:02d}" for j in range(k)]
    else:
        accounts = _hashed(rng, k, prefix="u")
    if kind == "subthreshold":
        target_hi = threshold * float(rng.uniform(0.2, 0.8))
        chip_s = target_hi / (profile.peak_flops * util_hi)
    else:
        target_lo = threshold * float(rng.uniform(1.2, 3.0))
        chip_s = target_lo / (profile.peak_flops * util_lo)
    gpus = int(rng.choice([64, 128, 256]))
    wall = chip_s / gpus
    evasive = bool(rng.random() < 0.2)
    start = BASE_EPOCH + int(rng.integers(0, max(1, int(days * 86400 * 0.2))))
    name = f"proj-{number:03d}-pretrain" if "workload_name" in chosen else None
    regions = rng.permutation(len(FACILITIES))
    card = f"card_{number:03d}_{rng.integers(1000, 9999)}"
    block = f"198.{rng.integers(18, 20)}.{rng.integers(0, 256)}"
    jobs: list[dict[str, object]] = []
    seconds: list[float] = []
    t = float(start)
    remaining = wall
    seg = 0
    while remaining > 0:
        length = min(remaining, float(rng.uniform(6, 48)) * 3600)
        j = seg % k
        fac, country = FACILITIES[int(regions[j % len(regions)])]
        variant = _ORG_VARIANTS[j % len(_ORG_VARIANTS)]
        org = (
            variant.format(n=company, N=company.upper())
            if "organisation" in chosen
            else f"Shell {number:03d}-{j} GmbH"
        )
        jobs.append(
            {
                "account": accounts[j],
                "job_id": f"inj{number}-{seg}",
                "job_name": f"{name}-restart-{seg}" if name else f"{accounts[j]}-job{seg}",
                "chip": profile.chip,
                "chip_count": float(gpus),
                "start": int(t),
                "end": int(t + length),
                "facility": fac,
                "country": country,
                "org": org,
                "payment": card if "payment" in chosen else f"card_{accounts[j]}",
                "ip": f"{block}.{j + 10}"
                if "address_block" in chosen
                else f"45.{rng.integers(0, 256)}.{rng.integers(0, 256)}.{j + 10}",
                "source": "synthetic-injected",
            }
        )
        seconds.append(float(int(t + length) - int(t)))
        remaining -= length
        gap = rng.uniform(8, 30) * 3600 if evasive else rng.uniform(5 / 60, 3) * 3600
        t += length + float(gap)
        seg += 1
    secs = sum(seconds)
    lo = secs * gpus * profile.peak_flops * util_lo
    hi = secs * gpus * profile.peak_flops * util_hi
    declaration = None
    if kind == "declared":
        declaration = DeclaredRun(
            id=f"decl-{number:03d}",
            party=jobs[0]["org"] if "organisation" in chosen else company,  # type: ignore[arg-type]
            compute_flop=(lo * hi) ** 0.5,
            start=int(jobs[0]["start"]),  # type: ignore[call-overload]
            end=int(jobs[-1]["end"]),  # type: ignore[call-overload]
            accounts=accounts,
        )
    return Injected(
        id=f"actor{number:03d}",
        kind=kind,
        accounts=accounts,
        evidence=sorted(set(chosen)),
        flop_lo=lo,
        flop_hi=hi,
        evasive_gaps=evasive,
        declaration=declaration,
        jobs=jobs,
    )
