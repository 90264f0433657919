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
                                         [--hapi-settings before|after|both] [--timeout 900]

With ``--hapi-settings both`` (the default) the same bundle is stored twice,
each time by a freshly started HAPI on a new database: first with HAPI's
settings from before the ingestion tuning, then as configured now, and the
ratio is printed. Exit status 0 only when the last run answered 200/201 and
stored exactly what was sent.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import time
from dataclasses import dataclass
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


BEFORE_TUNING = Path(__file__).resolve().parent / "hapi-before-tuning.yaml"
TRACE = Path(__file__).resolve().parent / "hapi-trace.yaml"


@dataclass
class Run:
    """One bundle through one freshly started stack."""

    settings: str
    status: int
    seconds: float
    error: str
    verdict: float
    hapi: float
    cpu: dict[str, float]
    peak_rss_mb: list[float]
    stored: dict[str, int]

    def line(self) -> str:
        if self.status == 0:
            return f"{self.settings}: no answer after {self.seconds:.1f} s ({self.error[:120]})"
        return (f"{self.settings}: status {self.status} in {self.seconds:.1f} s end to end"
                + (f" ({self.error[:200]})" if self.error else "") + "\n"
                f"  gateway: TDDUI checks {self.verdict:.1f} s, waiting for HAPI {self.hapi:.1f} s, the rest "
                f"(intake, receipt, relay) {self.seconds - self.verdict - self.hapi:.1f} s\n"
                "  CPU seconds meanwhile: " + ", ".join(f"{part} {value:.1f}" for part, value in self.cpu.items()) + "\n"
                f"  gateway worker peak RSS: {', '.join(f'{m:.0f} MB' for m in self.peak_rss_mb)}; stored: {self.stored}")


def hapi_database(postgres: PostgresServer | None, name: str, settings: str, trace: bool) -> dict:
    """HapiServer arguments: a new database per run, the settings before or after the tuning (or a
    variant of the latter, a yaml file), the tracer."""
    database = postgres.hapi_database(name) if postgres else {"extra_env": {}}
    variant = [] if settings in ("before", "after") else [Path(settings).resolve()]
    overlays = ([BEFORE_TUNING] if settings == "before" else variant) + ([TRACE] if trace else [])
    if overlays:
        database["extra_env"] = {**database["extra_env"], "SPRING_CONFIG_ADDITIONAL_LOCATION":
                                 ",".join(f"file:{overlay}" for overlay in overlays)}
    if postgres and settings == "before":
        database["datasource_url"] = database["datasource_url"].split("?")[0]
    return database


def transaction_timing(log: Path) -> str:
    """HAPI's StopWatch for the big transaction (PerformanceTracingLoggingInterceptor), summed by task:
    the per-entry tasks ("Bundle.entry[12]: PUT Patient") by method and type, the others as they are."""
    text = log.read_text(encoding="utf-8", errors="replace")
    start = text.rfind("Transaction timing")
    if start < 0:
        return "    (no 'Transaction timing' in the HAPI log)"
    totals: dict[str, list[int]] = {}
    for line in text[start:].splitlines()[1:]:
        if re.match(r"^\d{4}-\d\d-\d\d", line):   # the next log record: the StopWatch is over
            break
        task = re.search(r"(?:Bundle\.entry\[\d+\]: )?([^:\[\]]+(?: [A-Za-z]+)?): (\d+)ms", line)
        if task:
            totals.setdefault(task.group(1).strip(), []).append(int(task.group(2)))
    ranked = sorted(totals.items(), key=lambda item: -sum(item[1]))
    return "\n".join(f"    {name}: {sum(times) / 1000:.1f} s" + (f" ({len(times)} tasks)" if len(times) > 1 else "")
                     for name, times in ranked)


def run_once(settings: str, database_name: str, body: bytes, producer, postgres: PostgresServer | None,
             mode: str, timeout: float, trace: bool) -> Run:
    os.environ["HAPI_READ_TIMEOUT"] = str(timeout)
    with Stack([producer], workers=1, request_validation=mode,
               database=hapi_database(postgres, database_name, settings, trace)) as stack:
        hapi_pids = processes(lambda pid, ppid, pgid, cmd: pgid == stack.hapi.process.pid)
        worker_pids = processes(lambda pid, ppid, pgid, cmd: ppid == stack.gateway.process.pid)
        postmaster = int((postgres.data / "postmaster.pid").read_text().split()[0]) if postgres else None

        def cpu() -> dict[str, float]:
            database = processes(lambda pid, ppid, pgid, cmd: postmaster in (pid, ppid)) if postgres else set()
            return {"gateway": cpu_seconds(worker_pids), "HAPI": cpu_seconds(hapi_pids),
                    "PostgreSQL": cpu_seconds(database)}

        before = cpu()
        result = post(requests.Session(), stack.gateway_url, body, producer.headers(), producer.id, (200, 201),
                      timeout=timeout + 60)
        after = cpu()
        metrics = requests.get(stack.gateway_url + "metrics", timeout=30).text
        if trace:
            print(f"  HAPI's own timing ({settings}):\n{transaction_timing(stack.hapi.log_path)}", flush=True)
        return Run(settings, result.status, result.seconds, result.error,
                   metric_sum(metrics, "tddui_verdict_seconds"), metric_sum(metrics, "tddui_hapi_seconds"),
                   {part: after[part] - before[part] for part in before}, stack.worker_peak_rss_mb(),
                   stack.stored())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--backend", choices=("postgresql", "h2"), default="postgresql")
    parser.add_argument("--mode", choices=("trusted", "full"), default="trusted", help="HAPI_REQUEST_VALIDATION")
    parser.add_argument("--hapi-settings", choices=("before", "after", "both"), default="both",
                        help="HAPI as configured before the ingestion tuning (bench/hapi-before-tuning.yaml), "
                             "as hapi-config/application.yaml configures it now, or both, one after the other")
    parser.add_argument("--timeout", type=float, default=900, help="seconds the gateway waits for HAPI")
    parser.add_argument("--variant", action="append", default=[], metavar="YAML",
                        help="also run the tuned settings with this overlay (bench/hapi-variants/), "
                             "and print its time against the tuned run")
    parser.add_argument("--trace", action="store_true",
                        help="register HAPI's PerformanceTracingLoggingInterceptor and print its transaction timing")
    args = parser.parse_args(argv)
    factory = BundleFactory()
    producer = producers(1, 4)[0]
    started_build = time.perf_counter()
    bundle = factory.make(args.entries, producer.take_finess())
    body = body_of(bundle)
    expected = factory.stored_per_bundle(bundle)
    print(f"==> {args.entries:,} entries ({ {k: v for k, v in expected.items() if k != 'Provenance'} }), "
          f"{len(body) / 1e6:.1f} MB, built in {time.perf_counter() - started_build:.1f} s", flush=True)

    runs = []
    with contextlib.ExitStack() as running:
        postgres = None
        if args.backend == "postgresql":
            postgres = PostgresServer()
            running.callback(postgres.stop)
            postgres.start()
        for number, settings in enumerate((("before", "after") if args.hapi_settings == "both"
                                            else (args.hapi_settings,)) + tuple(args.variant)):
            runs.append(run_once(settings, f"hapi_run{number}", body, producer, postgres, args.mode, args.timeout,
                                 args.trace))
            print(runs[-1].line(), flush=True)

    finished = {run.settings: run for run in runs if run.status in (200, 201)}

    def ratio(run: Run, base: Run) -> str:
        return (f"{run.seconds / base.seconds:.2f}x end to end, {run.cpu['HAPI'] / base.cpu['HAPI']:.2f}x HAPI CPU"
                f" ({args.entries:,} entries, {args.backend}, {args.mode})")

    if "before" in finished and "after" in finished:
        print(f"after/before: {ratio(finished['after'], finished['before'])}")
    elif any(run.settings == "before" and run.status == 0 for run in runs) and "after" in finished:
        print(f"before did not finish within {args.timeout:.0f} s; after: {finished['after'].seconds:.1f} s")
    for variant in args.variant:
        if variant in finished and "after" in finished:
            print(f"{Path(variant).stem}/after: {ratio(finished[variant], finished['after'])}")
    # Each run starts on an empty database: everything sent, plus the one Provenance, must be stored.
    incomplete = [run.settings for run in finished.values() if run.stored != expected]
    if incomplete:
        print(f"stored is not what was sent ({', '.join(incomplete)}): expected {expected}")
    return 0 if runs[-1].settings in finished and not incomplete else 1


if __name__ == "__main__":
    sys.exit(main())
