"""Prometheus metrics, exposed at ``/metrics``.

Under gunicorn every worker is a process, so the counters live in
prometheus_client's multiprocess files (``PROMETHEUS_MULTIPROC_DIR``, set up by
``gateway/gunicorn_conf.py``) and ``/metrics`` adds them up; without it (tests,
``flask run``) the process's own registry is exposed.
"""
from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import REGISTRY, multiprocess

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
ENTRY_BUCKETS = (1, 2, 3, 5, 10, 30, 100, 300, 1000, 3000, 10000)

SUBMISSIONS = Counter("tddui_submissions_total", "Transaction submissions answered, by HTTP status", ["status"])
REFUSALS = Counter("tddui_refusals_total", "Blocking issues reported to producers, by rule id", ["rule"])
VERDICT_SECONDS = Histogram("tddui_verdict_seconds", "Time of the TDDUI checks (normalise + engine)",
                            buckets=LATENCY_BUCKETS)
HAPI_SECONDS = Histogram("tddui_hapi_seconds", "Time HAPI took to answer a forwarded transaction",
                         buckets=LATENCY_BUCKETS)
BUNDLE_ENTRIES = Histogram("tddui_bundle_entries", "Entries per parsed Bundle", buckets=ENTRY_BUCKETS)


def exposition() -> tuple[bytes, str]:
    """The metrics text, summed over gunicorn workers when they share a directory."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
