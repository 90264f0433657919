#!/usr/bin/env python3
"""End-to-end benchmark: the gateway under gunicorn vs. HAPI FHIR straight.

Starts its own HAPI (fresh H2 database) and the gateway under gunicorn
(``bench/stack.py``), then for each bundle size and each number of concurrent
producers posts the same kind of valid TDDUI transactions (one Organization,
patients and stays, identifiers unique in the run)

* straight to HAPI: ``POST [base]/`` with ``Prefer: return=representation``,
  the bundle normalised as the gateway forwards it (``Bundle.meta.profile``
  and each entry's ``meta.profile`` written);
* through the gateway: ``POST /`` with a producer's API key (the gateway
  checks it, makes the creates conditional, adds its Provenance, forwards).

Each producer is a thread with its own connection (and, through the gateway,
its own API key and FINESS). Cells alternate which target goes first. Prints
p50/p90/p99 latency and throughput for both and the ratios; writes
``docs/benchmark-results.csv``, ``docs/benchmark-results.png`` and its section
of ``docs/benchmark-results.md``. Stops HAPI and gunicorn at the end.

    .venv/bin/python bench/e2e_bench.py [--sizes 3,100,1000] [--concurrency 1,4,8]
        [--bundles 3=96,100=32,1000=8] [--warmup 3=8,100=4,1000=2] [--workers 2]
"""
from __future__ import annotations

import argparse
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

DOCS = ROOT / "docs"
TARGET_OVERHEAD_PCT = 5.0
TARGET_THROUGHPUT_PCT = 95.0
DIRECT_HEADERS = {"Content-Type": f"{FHIR_JSON}; charset=utf-8", "Accept": FHIR_JSON,
                  "Prefer": "return=representation"}


@dataclass
class Cell:
    target: str          # "HAPI direct" or "gateway"
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
        return len(self.ok) / self.wall

    @property
    def entries_per_s(self) -> float:
        return self.bundles_per_s * self.size


def per_size(text: str) -> dict[int, int]:
    return {int(k): int(v) for k, v in (part.split("=") for part in text.split(","))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="3,100,1000", help="entries per bundle (default 3,100,1000)")
    parser.add_argument("--concurrency", default="1,4,8", help="concurrent producers (default 1,4,8)")
    parser.add_argument("--bundles", default="3=96,100=32,1000=8",
                        help="bundles per cell and target, by size; rounded up to a multiple of the "
                             "concurrency (default 3=96,100=32,1000=8)")
    parser.add_argument("--warmup", default="3=8,100=4,1000=2",
                        help="untimed bundles per size and target before the cells (default 3=8,100=4,1000=2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (GATEWAY_WORKERS, default 2)")
    parser.add_argument("--out", default=str(DOCS / "benchmark-results"),
                        help="path stem of the .csv, .png and .md written (default docs/benchmark-results)")
    parser.add_argument("--md", default=str(DOCS / "benchmark-results.md"),
                        help="Markdown file whose section for these sizes and producers is (re)written")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, H2 database)")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    levels = [int(c) for c in args.concurrency.split(",")]
    counts, warmups = per_size(args.bundles), per_size(args.warmup)
    cell_count = {(s, c): c * math.ceil(counts.get(s, 8) / c) for s in sizes for c in levels}
    max_level = max(levels)

    # Each gateway producer takes a FINESS per bundle it sends: size its pool to that.
    need = sum(cell_count[s, c] // c for s in sizes for c in levels) + sum(warmups.get(s, 0) for s in sizes)
    bench_producers = producers(max_level, need + 8)
    factory = BundleFactory()
    direct_finess = (f"7{number:08d}" for number in itertools.count())
    for size in sizes:
        factory.template(size)

    started = time.monotonic()
    cells: list[Cell] = []
    with Stack(bench_producers, workers=args.workers, keep_dir=args.keep) as stack:
        direct_url = stack.hapi.base_url + "/"

        def direct_job(size: int, n: int, thread: int):
            bodies = [body_of(factory.make(size, next(direct_finess))) for _ in range(n)]
            return lambda session: [post(session, direct_url, body, DIRECT_HEADERS, f"direct-{thread}", (200,))
                                    for body in bodies]

        def gateway_job(size: int, n: int, thread: int):
            producer = bench_producers[thread]
            bodies = [body_of(factory.make(size, producer.take_finess())) for _ in range(n)]
            return lambda session: [post(session, stack.gateway_url, body, producer.headers(), producer.id, (201,))
                                    for body in bodies]

        jobs = {"HAPI direct": direct_job, "gateway": gateway_job}

        def run_cell(target: str, size: int, concurrency: int, per_thread: int) -> Cell:
            prepared = [jobs[target](size, per_thread, thread) for thread in range(concurrency)]
            results: list[Result] = []

            def worker(job):
                with requests.Session() as session:
                    results.extend(job(session))
            wall = run_concurrently([lambda job=job: worker(job) for job in prepared])
            return Cell(target, size, concurrency, results, wall)

        for size in sizes:
            for target in jobs:
                warm = run_cell(target, size, 1, warmups.get(size, 0)) if warmups.get(size, 0) else None
                if warm and warm.errors:
                    return fail(f"warm-up {target} {size} entries", warm, stack)
        print(f"==> warmed up; measuring {len(sizes) * len(levels) * 2} cells", flush=True)
        print(header())
        for index, (size, level) in enumerate((s, c) for s in sizes for c in levels):
            order = list(jobs) if index % 2 == 0 else list(jobs)[::-1]
            pair = {}
            for target in order:
                cell = run_cell(target, size, level, cell_count[size, level] // level)
                pair[target] = cell
                cells.append(cell)
                print(row(cell), flush=True)
                if cell.errors:
                    return fail(f"{target} {size} entries x{level}", cell, stack)
            print(ratio_line(pair["HAPI direct"], pair["gateway"]), flush=True)
        stored = stack.stored()
    elapsed = time.monotonic() - started

    out = Path(args.out)
    write_csv(out.with_suffix(".csv"), cells)
    chart = write_chart(out.with_suffix(".png"), cells, sizes, levels)
    command = ".venv/bin/python bench/e2e_bench.py" + "".join(f" {shlex.quote(a)}" for a in (argv or sys.argv[1:]))
    section = f"e2e sizes={args.sizes} producers={args.concurrency}"
    write_section(Path(args.md), section, report(cells, sizes, levels, cell_count, warmups, args.workers,
                                                         command, elapsed, stored, chart))
    print(f"\nwritten: {args.md}, {out.with_suffix('.csv')}, {chart or '(no chart)'}; "
          f"{elapsed / 60:.1f} min")
    return 0


def fail(what: str, cell: Cell, stack: Stack) -> int:
    bad = [r for r in cell.results if r.error]
    print(f"!! {what}: {len(bad)} errors, first: {bad[0].status} {bad[0].error}", file=sys.stderr)
    print(stack.gateway_log_tail(), file=sys.stderr)
    return 1


def header() -> str:
    return (f"{'target':>11} | {'entries':>7} | {'prod.':>5} | {'n':>4} | {'p50 ms':>8} | {'p90 ms':>8} | "
            f"{'p99 ms':>8} | {'bundles/s':>9} | {'entries/s':>9}")


def row(cell: Cell) -> str:
    return (f"{cell.target:>11} | {cell.size:>7,} | {cell.concurrency:>5} | {len(cell.ok):>4} | "
            f"{cell.p(50) * 1000:>8.1f} | {cell.p(90) * 1000:>8.1f} | {cell.p(99) * 1000:>8.1f} | "
            f"{cell.bundles_per_s:>9.2f} | {cell.entries_per_s:>9.1f}")


def overhead_pct(direct: Cell, gateway: Cell, q: float = 50) -> float:
    """The gateway's share of its end-to-end latency: (gateway - direct) / gateway."""
    return (gateway.p(q) - direct.p(q)) / gateway.p(q) * 100


def throughput_pct(direct: Cell, gateway: Cell) -> float:
    return gateway.bundles_per_s / direct.bundles_per_s * 100


def ratio_line(direct: Cell, gateway: Cell) -> str:
    return (f"{'':>11}   gateway overhead {overhead_pct(direct, gateway):+.1f} % of p50 "
            f"({overhead_pct(direct, gateway, 90):+.1f} % of p90), throughput {throughput_pct(direct, gateway):.1f} % "
            f"of direct HAPI")


def write_csv(path: Path, cells: list[Cell]) -> None:
    with open(path, "w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["target", "entries", "producers", "bundles", "errors", "p50_ms", "p90_ms", "p99_ms",
                      "mean_ms", "wall_s", "bundles_per_s", "entries_per_s"])
        for c in cells:
            out.writerow([c.target, c.size, c.concurrency, len(c.ok), c.errors, f"{c.p(50) * 1000:.1f}",
                          f"{c.p(90) * 1000:.1f}", f"{c.p(99) * 1000:.1f}",
                          f"{sum(c.ok) / len(c.ok) * 1000:.1f}", f"{c.wall:.2f}", f"{c.bundles_per_s:.3f}",
                          f"{c.entries_per_s:.1f}"])


def write_chart(path: Path, cells: list[Cell], sizes: list[int], levels: list[int]) -> str | None:
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
        for target, colour in (("HAPI direct", "tab:blue"), ("gateway", "tab:orange")):
            row_cells = [by[target, size, level] for level in levels]
            axes[0][column].plot(levels, [c.p(50) * 1000 for c in row_cells], "o-", color=colour,
                                 label=f"{target} p50")
            axes[0][column].plot(levels, [c.p(90) * 1000 for c in row_cells], "o--", color=colour, alpha=0.5,
                                 label=f"{target} p90")
            axes[1][column].plot(levels, [c.entries_per_s for c in row_cells], "o-", color=colour, label=target)
        for level in levels:
            direct, gateway = by["HAPI direct", size, level], by["gateway", size, level]
            axes[0][column].annotate(f"{overhead_pct(direct, gateway):+.0f} %", (level, gateway.p(50) * 1000),
                                     textcoords="offset points", xytext=(0, 6), ha="center", fontsize=8)
            axes[1][column].annotate(f"{throughput_pct(direct, gateway):.0f} %", (level, gateway.entries_per_s),
                                     textcoords="offset points", xytext=(0, -12), ha="center", fontsize=8)
        axes[0][column].set_title(f"{size:,}-entry bundles")
        axes[0][column].set_ylabel("latency (ms)")
        axes[1][column].set_ylabel("entries stored / s")
        for axis in (axes[0][column], axes[1][column]):
            axis.set_xlabel("concurrent producers")
            axis.set_xticks(levels)
            axis.set_ylim(bottom=0)
            axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    axes[1][0].legend(fontsize=7)
    figure.suptitle("TDDUI gateway (gunicorn) vs. HAPI FHIR direct\nlabels: gateway overhead % of p50 (top), "
                    "gateway throughput % of direct (bottom)", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return str(path)


def report(cells, sizes, levels, cell_count, warmups, workers, command, elapsed, stored, chart) -> str:
    by = {(c.target, c.size, c.concurrency): c for c in cells}
    lines = [
        f"## End-to-end: gateway vs. HAPI direct — {', '.join(f'{s:,}' for s in sizes)} entries, "
        f"{', '.join(map(str, levels))} producers",
        "",
        f"Command: `{command}` ({elapsed / 60:.1f} min, {time.strftime('%Y-%m-%d')}).",
        "",
        f"Machine: {machine_line()}. HAPI, gunicorn ({workers} sync workers) and the client threads share it.",
        "",
        "Bundles per cell and target: " + ", ".join(
            f"{s:,} entries: " + "/".join(str(cell_count[s, c]) for c in levels) for s in sizes)
        + f" (at {'/'.join(map(str, levels))} producers)"
        + f"; untimed warm-up per size and target: {', '.join(f'{s:,}: {warmups.get(s, 0)}' for s in sizes)}. "
        "Latency: from sending the request to the whole answer read (`Prefer: return=representation`: "
        "HAPI returns every stored resource); throughput: bundles answered per second of the cell's wall "
        "clock. All answers were the expected status (HAPI 200, gateway 201); no errors.",
        "",
        "| entries | producers | target | n | p50 ms | p90 ms | p99 ms | bundles/s | entries/s |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for size in sizes:
        for level in levels:
            for target in ("HAPI direct", "gateway"):
                c = by[target, size, level]
                lines.append(f"| {size:,} | {level} | {target} | {len(c.ok)} | {c.p(50) * 1000:,.1f} | "
                             f"{c.p(90) * 1000:,.1f} | {c.p(99) * 1000:,.1f} | {c.bundles_per_s:.2f} | "
                             f"{c.entries_per_s:,.1f} |")
    lines += [
        "",
        f"Ratios (targets: overhead ≤ {TARGET_OVERHEAD_PCT:g} % of end-to-end latency, throughput ≥ "
        f"{TARGET_THROUGHPUT_PCT:g} % of direct HAPI). Overhead = (gateway − direct) / gateway, at p50 and p90.",
        "",
        "| entries | producers | overhead p50 | overhead p90 | throughput | targets met |",
        "|---:|---:|---:|---:|---:|---|",
    ]
    for size in sizes:
        for level in levels:
            direct, gateway = by["HAPI direct", size, level], by["gateway", size, level]
            o50, o90, t = overhead_pct(direct, gateway), overhead_pct(direct, gateway, 90), throughput_pct(direct, gateway)
            met = "yes" if o50 <= TARGET_OVERHEAD_PCT and t >= TARGET_THROUGHPUT_PCT else "no"
            lines.append(f"| {size:,} | {level} | {o50:+.1f} % | {o90:+.1f} % | {t:.1f} % | {met} |")
    lines += ["", "Resources in HAPI at the end (both targets, warm-up included): "
              + ", ".join(f"{k} {v:,}" for k, v in stored.items()) + "."]
    if chart:
        lines += ["", f"![latency and throughput, gateway vs. HAPI direct]({Path(chart).name})"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
