#!/usr/bin/env python3
"""Load test: N concurrent producers for D seconds against the gateway under gunicorn.

Starts its own HAPI (fresh H2 database) and the gateway under gunicorn
(``bench/stack.py``) with N generated producers. Each producer (a thread with
its own API key, FINESS numbers and connection) sends valid bundles one after
the other until the time is up; requests in flight then finish. Prints the
counts, then the verdict:

* zero errors (every answer ``201 Created``, no connection failure);
* the resources HAPI stores (``_summary=count`` with ``Cache-Control: no-cache``,
  by type, minus what it held before) equal, exactly, what was accepted: each
  accepted bundle is its entries plus the one Provenance the gateway adds.

Exit status 0 only if both hold. Writes its section of docs/benchmark-results.md.

    .venv/bin/python bench/load_test.py [--producers 20] [--duration 60] [--entries 3] [--workers 2]
"""
from __future__ import annotations

import argparse
import collections
import shlex
import sys
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import (ROOT, STORED_TYPES, BundleFactory, PoolExhausted, Result, Stack, body_of,  # noqa: E402
                         machine_line, percentile, post, producers, run_concurrently, write_section)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--producers", type=int, default=20, help="concurrent producers (default 20)")
    parser.add_argument("--duration", type=float, default=60, help="seconds of sending (default 60)")
    parser.add_argument("--entries", type=int, default=3, help="entries per bundle (default 3, the IG example's)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (GATEWAY_WORKERS, default 2)")
    parser.add_argument("--md", default=str(ROOT / "docs" / "benchmark-results.md"),
                        help="Markdown file whose load-test section is (re)written")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, H2 database)")
    args = parser.parse_args(argv)

    # One FINESS per bundle: more than any producer can send in the time on this kind of machine.
    bench_producers = producers(args.producers, max(200, int(args.duration * 10)))
    factory = BundleFactory()
    per_bundle = BundleFactory.stored_per_bundle(factory.template(args.entries))
    results: list[Result] = []
    exhausted: list[str] = []
    lock = threading.Lock()

    with Stack(bench_producers, workers=args.workers, keep_dir=args.keep) as stack:
        before = stack.stored()
        deadline = 0.0

        def producer_loop(producer):
            mine = []
            with requests.Session() as session:
                while time.perf_counter() < deadline:
                    try:
                        body = body_of(factory.make(args.entries, producer.take_finess()))
                    except PoolExhausted as empty:
                        exhausted.append(str(empty))
                        break
                    mine.append(post(session, stack.gateway_url, body, producer.headers(), producer.id, (201,)))
            with lock:
                results.extend(mine)

        print(f"==> {args.producers} producers, {args.entries}-entry bundles, for {args.duration:g} s", flush=True)
        deadline = time.perf_counter() + args.duration + 0.5   # the barrier releases them at once
        wall = run_concurrently([lambda p=p: producer_loop(p) for p in bench_producers])
        after = stack.stored()

    accepted = [r for r in results if r.status == 201 and not r.error]
    errors = [r for r in results if r.error]
    statuses = collections.Counter(r.status for r in results)
    stored = {kind: after[kind] - before[kind] for kind in STORED_TYPES}
    expected = {kind: len(accepted) * per_bundle[kind] for kind in STORED_TYPES}
    latencies = [r.seconds for r in accepted]
    lines = [
        f"sent {len(results)} bundles of {args.entries} entries in {wall:.1f} s "
        f"({len(results) / wall:.2f} bundles/s, {len(accepted) * args.entries / wall:.1f} entries/s accepted)",
        f"answers: " + ", ".join(f"{status or 'no answer'}: {n}" for status, n in sorted(statuses.items())),
        f"accepted (201): {len(accepted)}; errors: {len(errors)}"
        + (f"; FINESS pools exhausted: {len(exhausted)}" if exhausted else ""),
        "latency of accepted: " + (f"p50 {percentile(latencies, 50) * 1000:.0f} ms, p90 "
                                   f"{percentile(latencies, 90) * 1000:.0f} ms, p99 "
                                   f"{percentile(latencies, 99) * 1000:.0f} ms, max {max(latencies) * 1000:.0f} ms"
                                   if latencies else "none"),
        "stored in HAPI / expected (accepted x per bundle): "
        + ", ".join(f"{kind} {stored[kind]}/{expected[kind]}" for kind in STORED_TYPES),
        f"total stored {sum(stored.values())}, expected {sum(expected.values())} "
        f"(= {len(accepted)} x ({args.entries} entries + 1 Provenance))",
    ]
    for line in lines:
        print(line)
    for failure in errors[:5]:
        print(f"   error: {failure.producer} status {failure.status}: {failure.error}")
    passed = not errors and not exhausted and stored == expected and len(accepted) > 0
    verdict = ("PASS: zero errors, stored = accepted exactly" if passed else
               "FAIL: " + "; ".join(filter(None, [f"{len(errors)} errors" if errors else "",
                                                   "stored != accepted" if stored != expected else "",
                                                   "pool exhausted" if exhausted else "",
                                                   "nothing accepted" if not accepted else ""])))
    print(verdict)

    command = ".venv/bin/python bench/load_test.py" + "".join(f" {shlex.quote(a)}" for a in (argv or sys.argv[1:]))
    write_section(Path(args.md), "load", "\n".join([
        f"## Load test: {args.producers} producers for {args.duration:g} s through the gateway",
        "",
        f"Command: `{command}` ({time.strftime('%Y-%m-%d')}); exit status {0 if passed else 1}.",
        "",
        f"Machine: {machine_line()}. gunicorn: {args.workers} sync workers. HAPI, gunicorn and the "
        f"{args.producers} producer threads share it. Each producer sends its next bundle as soon as the "
        "previous is answered.",
        "",
        "```",
        *lines,
        verdict,
        "```",
    ]))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
