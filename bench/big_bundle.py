#!/usr/bin/env python3
"""One whole-facility export: a 10,000-entry bundle checked and stored atomically, and where the time goes.

Starts a throw-away PostgreSQL server, HAPI on it in trusted mode
(``HAPI_REQUEST_VALIDATION=trusted``) and the gateway under gunicorn in
front (``bench/stack.py``), sends one bundle of N entries (one Organization,
about a third patients, the rest their stays) through the gateway and
prints:

* the end-to-end time, and the gateway's own split from its ``/metrics``
  (``tddui_verdict_seconds``: the TDDUI checks; ``tddui_hapi_seconds``: waiting
  for HAPI);
* the CPU seconds each part burned meanwhile (``/proc``): the gunicorn
  workers, the HAPI JVM, the PostgreSQL processes;
* the gateway worker's peak RSS, and the resources stored.

    .venv/bin/python bench/big_bundle.py [--entries 10000] [--backend postgresql|h2] [--mode trusted|full]
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import BundleFactory, Stack, body_of, post, producers  # noqa: E402
from tests.postgres_server import PostgresServer  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: set[int]) -> float:
    """utime + stime of these processes (their finished children included: cutime + cstime)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(value) for value in fields[11:15])
    return total / CLOCK_TICKS


def processes(keep) -> set[int]:
    """Pids whose (pid, ppid, pgid, command line) ``keep`` accepts."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            pid = int(stat.parent.name)
            fields = stat.read_text().rsplit(")", 1)[1].split()
            command = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            continue
        if keep(pid, int(fields[1]), int(fields[2]), command):
            found.add(pid)
    return found


def metric_sum(text: str, name: str) -> float:
    match = re.search(rf"^{name}_sum(?:{{[^}}]*}})? ([0-9.e+-]+)$", text, re.M)
    return float(match.group(1)) if match else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--backend", choices=("postgresql", "h2"), default="postgresql")
    parser.add_argument("--mode", choices=("trusted", "full"), default="trusted", help="HAPI_REQUEST_VALIDATION")
    args = parser.parse_args(argv)
    factory = BundleFactory()
    producer = producers(1, 4)[0]
    started_build = time.perf_counter()
    bundle = factory.make(args.entries, producer.take_finess())
    body = body_of(bundle)
    kinds = {kind: sum(1 for e in bundle["entry"] if e["resource"]["resourceType"] == kind)
             for kind in ("Patient", "Organization", "Encounter")}
    print(f"==> {args.entries:,} entries ({kinds}), {len(body) / 1e6:.1f} MB, built in "
          f"{time.perf_counter() - started_build:.1f} s", flush=True)

    with contextlib.ExitStack() as running:
        postgres = None
        if args.backend == "postgresql":
            postgres = PostgresServer()
            running.callback(postgres.stop)
            postgres.start()
        stack = running.enter_context(Stack([producer], workers=1, request_validation=args.mode,
                                            database=postgres.hapi_database() if postgres else None))
        hapi_pids = processes(lambda pid, ppid, pgid, cmd: pgid == stack.hapi.process.pid)
        worker_pids = processes(lambda pid, ppid, pgid, cmd: ppid == stack.gunicorn.pid)
        postmaster = int((postgres.data / "postmaster.pid").read_text().split()[0]) if postgres else None

        def database_pids() -> set[int]:
            return processes(lambda pid, ppid, pgid, cmd: postmaster in (pid, ppid)) if postgres else set()

        before = {"gateway": cpu_seconds(worker_pids), "HAPI": cpu_seconds(hapi_pids),
                  "PostgreSQL": cpu_seconds(database_pids())}
        result = post(requests.Session(), stack.gateway_url, body, producer.headers(), producer.id, (201,),
                      timeout=1800)
        after = {"gateway": cpu_seconds(worker_pids), "HAPI": cpu_seconds(hapi_pids),
                 "PostgreSQL": cpu_seconds(database_pids())}
        metrics = requests.get(stack.gateway_url + "metrics", timeout=30).text
        stored = stack.stored()
        peaks = stack.worker_peak_rss_mb()

    print(f"status {result.status} in {result.seconds:.1f} s end to end" + (f": {result.error}" if result.error else ""))
    verdict, hapi = metric_sum(metrics, "tddui_verdict_seconds"), metric_sum(metrics, "tddui_hapi_seconds")
    print(f"gateway: TDDUI checks {verdict:.1f} s, waiting for HAPI {hapi:.1f} s, the rest (intake, receipt, relay) "
          f"{result.seconds - verdict - hapi:.1f} s")
    print("CPU seconds meanwhile: " + ", ".join(f"{part} {after[part] - before[part]:.1f}" for part in before))
    print(f"gateway worker peak RSS: {', '.join(f'{m:.0f} MB' for m in peaks)}; stored: {stored}")
    return 0 if result.status == 201 else 1


if __name__ == "__main__":
    sys.exit(main())
