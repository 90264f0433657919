#!/usr/bin/env python3
"""End-to-end benchmark: the gateway under gunicorn, in front of HAPI in both modes, vs. HAPI straight.

For each database backend (H2, PostgreSQL: ``tests/postgres_server.py``
starts a throw-away server) it starts two stacks (``bench/stack.py``): HAPI
with request validation ``full`` and HAPI ``trusted``
(``HAPI_REQUEST_VALIDATION``), each on its own database with the gateway
under gunicorn in front. Then for each bundle size and each number of
concurrent producers it posts the same kind of valid TDDUI transactions (one
Organization, patients and stays, identifiers unique in the run)

* ``HAPI direct``: straight to the full-mode HAPI, ``POST [base]/`` with
  ``Prefer: return=representation``, the bundle normalised as the gateway
  forwards it (``Bundle.meta.profile`` and each entry's ``meta.profile``);
* ``gateway full`` / ``gateway trusted``: ``POST /`` with a producer's API key
  to the gateway in front of the full-mode / trusted-mode HAPI (the gateway
  checks it, makes the creates conditional, adds its Provenance, forwards).

Each producer is a thread with its own connection (and, through the gateway,
its own API key and FINESS). Cells rotate which target goes first. Prints
p50/p90/p99 latency, throughput and the ratios, and each gateway's worker peak
RSS; writes ``docs/benchmark-results.csv``, one chart per backend and its
section of ``docs/benchmark-results.md``. Stops everything at the end.

    .venv/bin/python bench/e2e_bench.py [--backends h2,postgresql] [--sizes 3,100,1000] [--concurrency 1,4,8]
        [--bundles 3=96,100=32,1000=8] [--warmup 3=8,100=4,1000=2] [--workers 2]
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import itertools
import math
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.stack import (FHIR_JSON, ROOT, BundleFactory, Result, Stack, body_of, machine_line,  # noqa: E402
                         percentile, post, producers, run_concurrently, write_section)
from tests.postgres_server import PostgresServer  # noqa: E402

DOCS = ROOT / "docs"
TARGETS = ("HAPI direct", "gateway full", "gateway trusted")
COLOURS = {"HAPI direct": "tab:blue", "gateway full": "tab:orange", "gateway trusted": "tab:green"}
TARGET_OVERHEAD_PCT = 5.0        # full mode: the gateway's share of end-to-end latency
TARGET_TRUSTED_SPEEDUP = 3.0     # trusted mode: throughput vs. direct HAPI at 100 entries and above
DIRECT_HEADERS = {"Content-Type": f"{FHIR_JSON}; charset=utf-8", "Accept": FHIR_JSON,
                  "Prefer": "return=representation"}


@dataclass
class Cell:
    backend: str         # "h2" or "postgresql"
    target: str          # one of TARGETS
    size: int
    concurrency: int
    results: list[Result]
    wall: float

    @property
    def ok(self) -> list[float]:
        return [r.seconds for r in self.results if not r.error]

    @property
    def errors(self) -> int:
        return sum(1 for r in self.results if r.error)

    def p(self, q: float) -> float:
        return percentile(self.ok, q)

    @property
    def bundles_per_s(self) -> float:
        return len(self.ok) / self.wall if self.wall else float("nan")

    @property
    def entries_per_s(self) -> float:
        return self.bundles_per_s * self.size


def per_size(text: str) -> dict[int, int]:
    return {int(k): int(v) for k, v in (part.split("=") for part in text.split(","))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="h2,postgresql", help="HAPI databases (default h2,postgresql)")
    parser.add_argument("--sizes", default="3,100,1000", help="entries per bundle (default 3,100,1000)")
    parser.add_argument("--concurrency", default="1,4,8", help="concurrent producers (default 1,4,8)")
    parser.add_argument("--bundles", default="3=96,100=32,1000=8",
                        help="bundles per cell and target, by size; rounded up to a multiple of the "
                             "concurrency (default 3=96,100=32,1000=8)")
    parser.add_argument("--warmup", default="3=8,100=4,1000=2",
                        help="untimed bundles per size and target before the cells (default 3=8,100=4,1000=2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (GATEWAY_WORKERS, default 2)")
    parser.add_argument("--out", default=str(DOCS / "benchmark-results"),
                        help="path stem of the .csv and -<backend>.png written (default docs/benchmark-results)")
    parser.add_argument("--md", default=str(DOCS / "benchmark-results.md"),
                        help="Markdown file whose section for these sizes and producers is (re)written")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directories (logs, H2 databases)")
    args = parser.parse_args(argv)
    backends = args.backends.split(",")
    sizes = [int(s) for s in args.sizes.split(",")]
    levels = [int(c) for c in args.concurrency.split(",")]
    counts, warmups = per_size(args.bundles), per_size(args.warmup)
    cell_count = {(s, c): c * math.ceil(counts.get(s, 8) / c) for s in sizes for c in levels}

    # Each gateway producer takes a FINESS per bundle it sends: size its pool to that.
    need = sum(cell_count[s, c] // c for s in sizes for c in levels) + sum(warmups.get(s, 0) for s in sizes)
    bench_producers = producers(max(levels), 2 * need + 8)   # two gateways per backend
    factory = BundleFactory()
    direct_finess = (f"7{number:08d}" for number in itertools.count())
    for size in sizes:
        factory.template(size)

    started = time.monotonic()
    cells: list[Cell] = []
    memory: dict[tuple[str, str], list[float]] = {}
    stored: dict[tuple[str, str], dict] = {}
    for backend in backends:
        with contextlib.ExitStack() as running:
            stacks = start_stacks(running, backend, bench_producers, args)
            # Gateways draw FINESS numbers from the same producer pools: fresh ones per backend.
            for producer in bench_producers:
                producer.reset()
            jobs = {"HAPI direct": direct_job(factory, stacks["full"].hapi.base_url + "/", direct_finess),
                    "gateway full": gateway_job(factory, stacks["full"], bench_producers),
                    "gateway trusted": gateway_job(factory, stacks["trusted"], bench_producers)}
            for size in sizes:
                for target in TARGETS:
                    if warmups.get(size, 0):
                        warm = run_cell(jobs, backend, target, size, 1, warmups[size])
                        if warm.errors:
                            return fail(f"warm-up {backend} {target} {size} entries", warm, stacks)
            print(f"==> {backend}: warmed up; measuring {len(sizes) * len(levels) * len(TARGETS)} cells", flush=True)
            print(header())
            for index, (size, level) in enumerate((s, c) for s in sizes for c in levels):
                order = TARGETS[index % len(TARGETS):] + TARGETS[:index % len(TARGETS)]
                trio = {}
                for target in order:
                    cell = run_cell(jobs, backend, target, size, level, cell_count[size, level] // level)
                    trio[target] = cell
                    cells.append(cell)
                    print(row(cell), flush=True)
                    if cell.errors:
                        return fail(f"{backend} {target} {size} entries x{level}", cell, stacks)
                print(ratio_line(trio), flush=True)
            for mode, stack in stacks.items():
                memory[backend, mode] = stack.worker_peak_rss_mb()
                stored[backend, mode] = stack.stored()
                print(f"    gateway ({mode}) worker peak RSS: {', '.join(f'{m:.0f} MB' for m in memory[backend, mode])}")
    elapsed = time.monotonic() - started

    out = Path(args.out)
    write_csv(out.with_suffix(".csv"), cells)
    charts = [chart for backend in backends
              if (chart := write_chart(out.with_name(f"{out.name}-{backend}.png"),
                                       [c for c in cells if c.backend == backend], backend, sizes, levels))]
    command = ".venv/bin/python bench/e2e_bench.py" + "".join(f" {shlex.quote(a)}" for a in (argv or sys.argv[1:]))
    section = f"e2e backends={args.backends} sizes={args.sizes} producers={args.concurrency}"
    write_section(Path(args.md), section, report(cells, backends, sizes, levels, cell_count, warmups, args.workers,
                                                 command, elapsed, stored, memory, charts))
    print(f"\nwritten: {args.md}, {out.with_suffix('.csv')}, {', '.join(charts) or '(no chart)'}; "
          f"{elapsed / 60:.1f} min")
    return 0


def start_stacks(running: contextlib.ExitStack, backend: str, bench_producers, args) -> dict[str, Stack]:
    """A full-mode and a trusted-mode stack on two databases of ``backend``."""
    postgres = None
    if backend == "postgresql":
        postgres = PostgresServer()
        running.callback(postgres.stop)
        postgres.start()
    stacks = {}
    for mode in ("full", "trusted"):
        database = postgres.hapi_database(f"hapi_{mode}") if postgres else None
        stacks[mode] = running.enter_context(Stack(bench_producers, workers=args.workers, keep_dir=args.keep,
                                                   request_validation=mode, database=database))
    return stacks


def direct_job(factory: BundleFactory, url: str, finess):
    def job(size: int, n: int, thread: int):
        bodies = [body_of(factory.make(size, next(finess))) for _ in range(n)]
        return lambda session: [post(session, url, body, DIRECT_HEADERS, f"direct-{thread}", (200,))
                                for body in bodies]
    return job


def gateway_job(factory: BundleFactory, stack: Stack, bench_producers):
    def job(size: int, n: int, thread: int):
        producer = bench_producers[thread]
        bodies = [body_of(factory.make(size, producer.take_finess())) for _ in range(n)]
        return lambda session: [post(session, stack.gateway_url, body, producer.headers(), producer.id, (201,))
                                for body in bodies]
    return job


def run_cell(jobs, backend: str, target: str, size: int, concurrency: int, per_thread: int) -> Cell:
    prepared = [jobs[target](size, per_thread, thread) for thread in range(concurrency)]
    results: list[Result] = []

    def worker(job):
        with requests.Session() as session:
            results.extend(job(session))
    wall = run_concurrently([lambda job=job: worker(job) for job in prepared])
    return Cell(backend, target, size, concurrency, results, wall)


def fail(what: str, cell: Cell, stacks: dict[str, Stack]) -> int:
    bad = [r for r in cell.results if r.error]
    print(f"!! {what}: {len(bad)} errors, first: {bad[0].status} {bad[0].error}", file=sys.stderr)
    for mode, stack in stacks.items():
        print(f"-- gateway ({mode}) log tail:\n{stack.gateway_log_tail()}", file=sys.stderr)
    return 1


def header() -> str:
    return (f"{'target':>15} | {'entries':>7} | {'prod.':>5} | {'n':>4} | {'p50 ms':>8} | {'p90 ms':>8} | "
            f"{'p99 ms':>8} | {'bundles/s':>9} | {'entries/s':>9}")


def row(cell: Cell) -> str:
    return (f"{cell.target:>15} | {cell.size:>7,} | {cell.concurrency:>5} | {len(cell.ok):>4} | "
            f"{cell.p(50) * 1000:>8.1f} | {cell.p(90) * 1000:>8.1f} | {cell.p(99) * 1000:>8.1f} | "
            f"{cell.bundles_per_s:>9.2f} | {cell.entries_per_s:>9.1f}")


def overhead_pct(direct: Cell, gateway: Cell, q: float = 50) -> float:
    """The gateway's share of its end-to-end latency: (gateway - direct) / gateway."""
    return (gateway.p(q) - direct.p(q)) / gateway.p(q) * 100


def latency_ratio(direct: Cell, gateway: Cell, q: float = 50) -> float:
    return gateway.p(q) / direct.p(q)


def throughput_ratio(direct: Cell, gateway: Cell) -> float:
    return gateway.bundles_per_s / direct.bundles_per_s


def ratio_line(trio: dict[str, Cell]) -> str:
    direct, full, trusted = (trio[t] for t in TARGETS)
    return (f"{'':>15}   full: overhead {overhead_pct(direct, full):+.1f} % of p50, throughput "
            f"{throughput_ratio(direct, full):.2f}x direct; trusted: p50 {latency_ratio(direct, trusted):.2f}x "
            f"direct, throughput {throughput_ratio(direct, trusted):.2f}x direct")


def write_csv(path: Path, cells: list[Cell]) -> None:
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["backend", "target", "entries", "producers", "bundles", "errors", "p50_ms", "p90_ms",
                      "p99_ms", "mean_ms", "wall_s", "bundles_per_s", "entries_per_s"])
        for c in cells:
            out.writerow([c.backend, c.target, c.size, c.concurrency, len(c.ok), c.errors, f"{c.p(50) * 1000:.1f}",
                          f"{c.p(90) * 1000:.1f}", f"{c.p(99) * 1000:.1f}",
                          f"{sum(c.ok) / len(c.ok) * 1000:.1f}", f"{c.wall:.2f}", f"{c.bundles_per_s:.3f}",
                          f"{c.entries_per_s:.1f}"])


def write_chart(path: Path, cells: list[Cell], backend: str, sizes: list[int], levels: list[int]) -> str | None:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib missing (pip install -e '.[bench]'): no chart", file=sys.stderr)
        return None
    by = {(c.target, c.size, c.concurrency): c for c in cells}
    figure, axes = plt.subplots(2, len(sizes), figsize=(4.2 * len(sizes), 7), squeeze=False)
    for column, size in enumerate(sizes):
        for target in TARGETS:
            row_cells = [by[target, size, level] for level in levels]
            axes[0][column].plot(levels, [c.p(50) * 1000 for c in row_cells], "o-", color=COLOURS[target],
                                 label=f"{target} p50")
            axes[1][column].plot(levels, [c.entries_per_s for c in row_cells], "o-", color=COLOURS[target],
                                 label=target)
        axes[0][column].set_title(f"{size:,}-entry bundles ({backend})")
        axes[0][column].set_ylabel("p50 latency (ms)")
        axes[1][column].set_ylabel("entries stored / s")
        for axis in (axes[0][column], axes[1][column]):
            axis.set_xlabel("concurrent producers")
            axis.set_xticks(levels)
            axis.set_ylim(bottom=0)
            axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    axes[1][0].legend(fontsize=7)
    figure.suptitle(f"TDDUI gateway (gunicorn) in front of HAPI full / trusted vs. HAPI FHIR direct, {backend}",
                    fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return str(path)


def report(cells, backends, sizes, levels, cell_count, warmups, workers, command, elapsed, stored, memory,
           charts) -> str:
    by = {(c.backend, c.target, c.size, c.concurrency): c for c in cells}
    lines = [
        f"## End-to-end: gateway (full and trusted HAPI) vs. HAPI direct — {', '.join(backends)}; "
        f"{', '.join(f'{s:,}' for s in sizes)} entries, {', '.join(map(str, levels))} producers",
        "",
        f"Command: `{command}` ({elapsed / 60:.1f} min, {time.strftime('%Y-%m-%d')}).",
        "",
        f"Machine: {machine_line()}. HAPI (two per backend), gunicorn ({workers} sync workers per gateway) and "
        "the client threads share it.",
        "",
        "Bundles per cell and target: " + ", ".join(
            f"{s:,} entries: " + "/".join(str(cell_count[s, c]) for c in levels) for s in sizes)
        + f" (at {'/'.join(map(str, levels))} producers)"
        + f"; untimed warm-up per size and target: {', '.join(f'{s:,}: {warmups.get(s, 0)}' for s in sizes)}. "
        "Latency: from sending the request to the whole answer read (`Prefer: return=representation` "
        "straight to HAPI; the gateway always relays the whole transaction-response); throughput: bundles "
        "answered per second of the cell's wall clock. All answers were the expected status (HAPI 200, "
        "gateway 201); no errors.",
        "",
        "| backend | entries | producers | target | n | p50 ms | p90 ms | p99 ms | bundles/s | entries/s |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for backend in backends:
        for size in sizes:
            for level in levels:
                for target in TARGETS:
                    c = by[backend, target, size, level]
                    lines.append(f"| {backend} | {size:,} | {level} | {target} | {len(c.ok)} | "
                                 f"{c.p(50) * 1000:,.1f} | {c.p(90) * 1000:,.1f} | {c.p(99) * 1000:,.1f} | "
                                 f"{c.bundles_per_s:.2f} | {c.entries_per_s:,.1f} |")
    lines += [
        "",
        f"Ratios. Full mode: overhead = (gateway − direct) / gateway at p50 (target ≤ {TARGET_OVERHEAD_PCT:g} %, "
        "before accounting for the receipt's extra work). Trusted mode: p50 latency and throughput as multiples "
        f"of direct HAPI (targets: p50 < 1× at 3 entries; throughput ≥ {TARGET_TRUSTED_SPEEDUP:g}× at 100 "
        "entries and above).",
        "",
        "| backend | entries | producers | full: overhead p50 | full: throughput | trusted: p50 | "
        "trusted: throughput | trusted target met |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for backend in backends:
        for size in sizes:
            for level in levels:
                direct, full, trusted = (by[backend, t, size, level] for t in TARGETS)
                if size >= 100:
                    met = throughput_ratio(direct, trusted) >= TARGET_TRUSTED_SPEEDUP
                else:
                    met = latency_ratio(direct, trusted) < 1
                lines.append(f"| {backend} | {size:,} | {level} | {overhead_pct(direct, full):+.1f} % | "
                             f"{throughput_ratio(direct, full):.2f}× | {latency_ratio(direct, trusted):.2f}× | "
                             f"{throughput_ratio(direct, trusted):.2f}× | {'yes' if met else 'no'} |")
    lines += ["", "Gateway worker peak RSS (VmHWM) at the end of each backend's run, largest bundle "
              f"{max(sizes):,} entries: " + "; ".join(
                  f"{backend} {mode}: {', '.join(f'{m:.0f} MB' for m in peaks)}"
                  for (backend, mode), peaks in memory.items()) + "."]
    lines += ["", "Resources in HAPI at the end (warm-up included): " + "; ".join(
        f"{backend} {mode}: " + ", ".join(f"{k} {v:,}" for k, v in counts.items())
        for (backend, mode), counts in stored.items()) + "."]
    for chart in charts:
        lines += ["", f"![latency and throughput, {Path(chart).stem}]({Path(chart).name})"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
