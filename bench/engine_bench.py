#!/usr/bin/env python3
"""Benchmark of the conformance engine's verdict (no timed assertions).

Median time of ``ConformanceEngine.judge`` on the IG example Bundle and on
generated valid bundles of 10, 100, 1,000 and 10,000 entries (copies of the
example's PatientINS / Organization / Encounter with their own ids and
urn:uuid references). With ``--hapi-url`` the same bundles are also posted to
HAPI's ``Bundle/$validate`` and both medians are printed side by side.

    .venv/bin/python bench/engine_bench.py [--sizes 10,100,1000,10000] [--hapi-url http://localhost:8080/fhir]
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
import uuid
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from gateway.config import Settings  # noqa: E402
from gateway.conformance import ConformanceEngine  # noqa: E402
from tests.cases import load_examples, package_dir, v1  # noqa: E402


def generated_bundle(size: int) -> dict:
    """A valid transaction of ``size`` entries: patient, organization and stay
    triplets, then extra stays for the same patient and organization."""
    template = v1(load_examples())
    patient, organization, stay = (entry for entry in template["entry"])
    entries = []

    def add(entry: dict, number: int) -> str:
        entry = copy.deepcopy(entry)
        entry["fullUrl"] = f"urn:uuid:{uuid.UUID(int=number)}"
        entry["resource"]["id"] = f"{entry['resource']['id'][:40]}-{number}"
        entries.append(entry)
        # business identifiers of their own: one bundle never names one record twice (BR-UNIQUE-BUSINESS-ID)
        for identifier in entry["resource"].get("identifier") or []:
            if entry["resource"]["resourceType"] == "Patient":
                identifier["value"] = identifier["value"][:-6] + f"{number:06d}"
            elif entry["resource"]["resourceType"] == "Organization":
                finess = f"7{number:08d}"
                identifier["value"] = finess if identifier["value"] and len(identifier["value"]) == 9 else "1" + finess
        return entry["fullUrl"]

    patient_url = organization_url = None
    for number in range(size):
        role = number % 3 if number < size - size % 3 else 2
        if role == 0:
            patient_url = add(patient, number)
        elif role == 1:
            organization_url = add(organization, number)
        else:
            add(stay, number)
            resource = entries[-1]["resource"]
            resource["subject"] = {"reference": patient_url}
            resource["serviceProvider"] = {"reference": organization_url}
            resource["identifier"][0]["value"] += f"-{number}"
    return {**template, "entry": entries}


def median_seconds(action, budget_s: float = 2.0, max_runs: int = 200) -> tuple[float, float]:
    """Medians of wall-clock and process CPU time over repeated runs, within a
    time budget (at least 3 runs). CPU time is what other processes on a
    shared machine do not inflate."""
    wall, cpu = [], []
    started = time.perf_counter()
    while len(wall) < 3 or (len(wall) < max_runs and time.perf_counter() - started < budget_s):
        begin, begin_cpu = time.perf_counter(), time.process_time()
        action()
        wall.append(time.perf_counter() - begin)
        cpu.append(time.process_time() - begin_cpu)
    return statistics.median(wall), statistics.median(cpu)


def hapi_validate(hapi_url: str, body: bytes):
    import requests
    session = requests.Session()

    def post():
        response = session.post(f"{hapi_url.rstrip('/')}/Bundle/$validate", data=body, timeout=600,
                                headers={"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"})
        response.raise_for_status()
    return post


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,1000,10000")
    parser.add_argument("--hapi-url", help="FHIR base of a HAPI server: also time its Bundle/$validate")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    engine = ConformanceEngine.load(Settings(package_dir=package_dir()))
    print(f"engine start-up: {time.perf_counter() - started:.2f} s")
    cases = [("IG example", copy.deepcopy(load_examples().bundle))]
    cases += [(f"{int(size):,} entries", generated_bundle(int(size))) for size in args.sizes.split(",")]

    header = f"{'bundle':>16} | {'engine median':>14} | {'per entry':>10} | {'CPU median':>11} | {'per entry':>10}"
    if args.hapi_url:
        header += f" | {'HAPI $validate':>15} | {'HAPI / engine':>13}"
    print(header)
    print("-" * len(header))
    for label, bundle in cases:
        verdict = engine.judge(bundle)
        if not verdict.accepted:
            print(f"{label}: refused, not a valid benchmark input: "
                  f"{[i.message.en for i in verdict.issues if i.blocking][:3]}", file=sys.stderr)
            return 1
        entries = len(bundle["entry"])
        engine_s, engine_cpu_s = median_seconds(lambda: engine.judge(bundle))
        line = (f"{label:>16} | {engine_s * 1000:>11.2f} ms | {engine_s / entries * 1e6:>7.0f} µs"
                f" | {engine_cpu_s * 1000:>8.2f} ms | {engine_cpu_s / entries * 1e6:>7.0f} µs")
        if args.hapi_url:
            body = json.dumps(bundle).encode()
            hapi_s, _ = median_seconds(hapi_validate(args.hapi_url, body), budget_s=10.0, max_runs=20)
            line += f" | {hapi_s * 1000:>12.1f} ms | {hapi_s / engine_s:>12.1f}×"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
