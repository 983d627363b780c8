"""Kubernetes batch Jobs, as ``kubectl get jobs -A -o json`` or a watch stream.

Accepts a ``List`` (``{"items": [...]}``), a bare JSON array of Job objects, or JSON lines
of watch events (``{"type": "MODIFIED", "object": {...}}``), keeping the last state seen
for each Job uid. Accelerators are the container limits on an extended resource
(``nvidia.com/gpu``, ``amd.com/gpu``, ``huawei.com/Ascend910``...) times the Job's
parallelism; the model comes from the node selector GPU feature discovery sets
(``nvidia.com/gpu.product``) or, for resources that name the model, the resource itself.
The customer fields for linking come from labels (``accord/account``, ``accord/org``,
``accord/payment``, ``accord/ip``); the account falls back to the namespace.
"""

from __future__ import annotations

from typing import Any

from accord.verify.telemetry.ingest.base import Collector, Parsed, epoch, load_json, zone

TIME_FORMATS = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S%z")
PRODUCT_KEYS = ("nvidia.com/gpu.product", "accord/chip", "cloud.google.com/gke-accelerator")
REGION_KEYS = ("topology.kubernetes.io/region", "accord/facility")
ACCEL_PREFIXES = ("nvidia.com/", "amd.com/", "huawei.com/", "habana.ai/", "google.com/tpu")


def _jobs(text: str) -> list[dict[str, Any]]:
    stripped = text.lstrip()
    if stripped.startswith("{") and "\n{" in stripped.rstrip():
        latest: dict[str, dict[str, Any]] = {}
        order: list[str] = []
        for n, line in enumerate(stripped.splitlines(), start=1):
            if not line.strip():
                continue
            event = load_json(line, f"line {n}")
            obj = event.get("object", event) if isinstance(event, dict) else None
            if not isinstance(obj, dict):
                continue
            meta = obj.get("metadata") or {}
            uid = str(meta.get("uid") or f"{meta.get('namespace')}/{meta.get('name')}")
            if uid not in latest:
                order.append(uid)
            latest[uid] = obj
        return [latest[u] for u in order]
    data = load_json(text, "kubernetes json")
    items = data.get("items", [data]) if isinstance(data, dict) else data
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _accelerators(pod_spec: dict[str, Any]) -> tuple[str | None, float]:
    """(resource name, total per pod) summed over containers."""
    name: str | None = None
    total = 0.0
    for container in pod_spec.get("containers") or []:
        resources = container.get("resources") or {}
        limits = resources.get("limits") or resources.get("requests") or {}
        for key, value in limits.items():
            if key.startswith(ACCEL_PREFIXES):
                name = key
                total += float(str(value))
    return name, total


def parse_k8s_jobs(text: str, *, facility: str | None = None, country: str | None = None) -> Parsed:
    out = Collector()
    utc = zone("UTC")
    for job in _jobs(text):
        out.read += 1
        meta = job.get("metadata") or {}
        spec = job.get("spec") or {}
        status = job.get("status") or {}
        labels = {**(meta.get("labels") or {})}
        where = f"job {meta.get('namespace')}/{meta.get('name')}"
        pod_spec = ((spec.get("template") or {}).get("spec")) or {}
        try:
            resource, per_pod = _accelerators(pod_spec)
            pods = float(spec.get("parallelism") or 1)
            start = epoch(status.get("startTime"), utc, TIME_FORMATS)
            end = epoch(status.get("completionTime"), utc, TIME_FORMATS)
            if end is None:
                for cond in status.get("conditions") or []:
                    if cond.get("type") == "Failed" and cond.get("status") == "True":
                        end = epoch(cond.get("lastTransitionTime"), utc, TIME_FORMATS)
        except (ValueError, TypeError):
            out.reject("bad_value", where)
            continue
        if resource is None or per_pod <= 0:
            out.reject("no_accelerator", where)
            continue
        selector = pod_spec.get("nodeSelector") or {}
        chip = next((selector[k] for k in PRODUCT_KEYS if selector.get(k)), None)
        chip = chip or labels.get("accord/chip")
        if chip is None and "/" in resource and not resource.endswith("/gpu"):
            chip = resource.split("/", 1)[1]  # e.g. huawei.com/Ascend910 -> Ascend910
        region = next((selector[k] for k in REGION_KEYS if selector.get(k)), None)
        out.rows.append(
            {
                "account": labels.get("accord/account") or meta.get("namespace"),
                "job_id": meta.get("uid") or meta.get("name"),
                "job_name": meta.get("name"),
                "chip": chip,
                "chip_count": per_pod * pods,
                "start": start,
                "end": end,
                "facility": facility or region or labels.get("accord/facility"),
                "country": country or labels.get("accord/country"),
                "org": labels.get("accord/org"),
                "payment": labels.get("accord/payment"),
                "ip": labels.get("accord/ip"),
                "source": "k8s",
            }
        )
    return out.done()
