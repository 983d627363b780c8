"""Alibaba GPU cluster trace 2023 ("openb", alibaba/clusterdata ``cluster-trace-gpu-v2023``).

``openb_pod_list_*.csv``: ``name, cpu_milli, memory_mib, num_gpu, gpu_milli, gpu_spec, qos,
pod_phase, creation_time, deletion_time, scheduled_time``. One record per pod:

* GPUs = ``num_gpu`` x ``gpu_milli`` / 1000 (``gpu_milli`` is the share of each GPU the pod
  holds; GPU sharing gives fractions);
* start = ``scheduled_time`` (empty: the pod never ran, refused as ``never_started``),
  end = ``deletion_time``; both are seconds from the start of the trace, not calendar
  dates;
* chip = ``gpu_spec`` (the GPU models the pod asked for, ``|``-separated). Where it is empty
  the trace does not say which node ran the pod: it could have been any model in the node
  list, including the anonymised ``G2``/``G3``. Such pods get the label
  ``OPENB-UNSPECIFIED`` and are refused as ``unknown_chip`` until the analyst states an
  assumption (``--chip-map OPENB-UNSPECIFIED=V100``);
* workload = ``serving`` for QoS ``LS`` (latency-sensitive) pods holding at most one GPU
  (a whole one or a share): the trace's long-lived inference services. They are costed
  and reported, not counted as training. ``LS`` pods with several GPUs, and every other
  QoS class (``BE``, ``Burstable``, ``Guaranteed``), count as training;
* account: the trace has no user column. A column ``account`` (or ``user``) added to the
  file is used; otherwise records have no account and are refused as
  ``missing_account``.

The node list (``openb_node_list_gpu_node.csv`` beside the pod list, when present) is
read for the models and GPU counts it names; they are stated in the assumptions of every
report.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

from accord.verify.telemetry.ingest.base import Collector, Parsed

POD_COLUMNS = (
    "name", "num_gpu", "gpu_milli", "gpu_spec", "qos", "pod_phase", "deletion_time",
    "scheduled_time",
)  # fmt: skip
UNSPECIFIED = "OPENB-UNSPECIFIED"
# GPU share and count at or below which a latency-sensitive pod is taken to be serving.
SERVING_MAX_GPUS = 1.0


def node_models(path: Path) -> Counter[str]:
    """GPUs per model in an openb node list (``sn, cpu_milli, memory_mib, gpu, model``)."""
    out: Counter[str] = Counter()
    with path.open(newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            try:
                gpus = int(row.get("gpu") or 0)
            except ValueError:
                continue
            model = (row.get("model") or "").strip()
            if gpus > 0 and model:
                out[model] += gpus
    return out


def _node_list(pod_path: Path) -> Path | None:
    for candidate in sorted(pod_path.parent.glob("*node_list*gpu_node*.csv")):
        return candidate
    return None


def _number(text: str | None) -> float | None:
    text = (text or "").strip()
    return float(text) if text else None


def parse_openb(
    path: Path,
    *,
    node_path: Path | None = None,
    facility: str | None = None,
    country: str | None = None,
    accounts: dict[str, str] | None = None,
) -> Parsed:
    """``accounts`` maps pod names to accounts when the caller has that knowledge (the trace
    does not); a column ``account``/``user`` in the file does the same."""
    out = Collector()
    unspecified = serving = censored = 0
    last_deletion = 0.0
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        fields = reader.fieldnames or []
        missing = [c for c in POD_COLUMNS if c not in fields]
        if missing:
            from accord.errors import AccordError

            raise AccordError(
                str(path),
                f"is not an openb pod list: no column(s) {missing}",
                "pass the cluster-trace-gpu-v2023 openb_pod_list CSV, or another --format",
            )
        account_col = next((c for c in ("account", "user") if c in fields), None)
        for number, row in enumerate(reader, start=2):
            out.read += 1
            name = (row.get("name") or "").strip()
            where = f"line {number}: {name}"
            try:
                gpus = _number(row.get("num_gpu"))
                milli = _number(row.get("gpu_milli"))
                start = _number(row.get("scheduled_time"))
                end = _number(row.get("deletion_time"))
            except ValueError:
                out.reject("bad_value", where)
                continue
            if not gpus or gpus <= 0 or not milli or milli <= 0:
                out.reject("no_accelerator", where)
                continue
            if start is None:
                out.reject("never_started", where)
                continue
            if end is not None:
                last_deletion = max(last_deletion, end)
            if (row.get("pod_phase") or "").strip() == "Running":
                censored += 1
            count = gpus * milli / 1000.0
            spec = (row.get("gpu_spec") or "").strip()
            if not spec:
                unspecified += 1
            qos = (row.get("qos") or "").strip()
            kind = "serving" if qos == "LS" and count <= SERVING_MAX_GPUS else None
            serving += kind == "serving"
            account = (accounts or {}).get(name) or (
                (row.get(account_col) or "").strip() if account_col else None
            )
            out.rows.append(
                {
                    "account": account or None,
                    "job_id": name,
                    "job_name": None,
                    "chip": spec or UNSPECIFIED,
                    "chip_count": count,
                    "start": int(start),
                    "end": int(end) if end is not None else None,
                    "facility": facility or "alibaba-openb",
                    "country": country,
                    "source": "openb",
                    "workload": kind,
                }
            )
    node_path = node_path or _node_list(path)
    if node_path is not None and node_path.exists():
        models = node_models(node_path)
        listed = ", ".join(f"{m} {n:,}" for m, n in models.most_common())
        out.assumptions.append(f"openb node list {node_path.name}: GPUs by model: {listed}")
    if unspecified:
        out.assumptions.append(
            f"{unspecified:,} openb pod(s) name no GPU model (gpu_spec empty): the trace does "
            f"not say which node ran them (any listed model, including the anonymised G2/G3); "
            f"label {UNSPECIFIED}"
        )
    if serving:
        out.assumptions.append(
            f"{serving:,} openb pod(s) of QoS LS on at most one GPU taken to be serving "
            "(reported, not counted as training)"
        )
    if censored:
        out.assumptions.append(
            f"{censored:,} openb pod(s) still Running at the end of the trace: deletion_time "
            f"({last_deletion:.0f} s at most) is where observation stops, not where they ended"
        )
    if account_col is None and not accounts:
        out.assumptions.append(
            "the openb trace has no user column: records carry no account unless the file "
            "has an 'account' column"
        )
    out.assumptions.append("openb times are seconds from the start of the trace, not dates")
    return out.done()
