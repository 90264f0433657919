"""Every benchmark script still runs: a small run of each, as a user would start it.

A benchmark that no longer runs is a bug (bench/big_bundle.py once broke when
the gunicorn launcher moved, and nothing noticed). These runs assert only that
each script completes and, where it stores, that it stored everything: the
figures themselves are for docs/evidence.md, never asserted.
"""
from __future__ import annotations

import os
import subprocess
import sys


from tests.cases import REPO_ROOT



def run_bench(script: str, *arguments: str, timeout: float = 1500) -> str:
    completed = subprocess.run([sys.executable, str(REPO_ROOT / "bench" / script), *arguments],
                               cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout,
                               env=dict(os.environ, PYTHONUNBUFFERED="1"), stdin=subprocess.DEVNULL)
    assert completed.returncode == 0, f"{script} exited {completed.returncode}:\n{completed.stdout[-3000:]}\n" \
                                      f"{completed.stderr[-3000:]}"
    return completed.stdout


def test_engine_bench_runs():
    output = run_bench("engine_bench.py", "--sizes", "10")
    assert "10 entries" in output


def test_big_bundle_stores_a_few_hundred_entries():
    output = run_bench("big_bundle.py", "--entries", "300", "--backend", "h2", "--hapi-settings", "after")
    assert "after: status 201" in output
    assert "stored: {'Patient': 100, 'Organization': 1, 'Encounter': 199, 'Provenance': 1}" in output


def test_e2e_bench_runs_its_smallest_cell(tmp_path):
    run_bench("e2e_bench.py", "--backends", "h2", "--sizes", "3", "--concurrency", "1", "--bundles", "3=4",
              "--warmup", "3=1", "--workers", "1", "--out", str(tmp_path / "results"),
              "--md", str(tmp_path / "results.md"))
    assert "3 entries" in (tmp_path / "results.md").read_text(encoding="utf-8")


def test_load_test_stores_what_it_accepted(tmp_path):
    run_bench("load_test.py", "--producers", "2", "--duration", "5", "--workers", "1",
              "--md", str(tmp_path / "results.md"))
    assert (tmp_path / "results.md").read_text(encoding="utf-8").strip()


def test_worker_memory_measures_an_accepted_bundle():
    output = run_bench("worker_memory.py", "--entries", "30")
    rows = [[cell.strip() for cell in line.split("|")] for line in output.splitlines() if line.count("|") > 3]
    assert any(row[0] == "30" and row[2] == "201" and row[-1].endswith(" MB") for row in rows), output
