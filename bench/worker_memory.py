#!/usr/bin/env python3
"""Peak memory of one gateway worker per bundle size, with no HAPI (no timed or memory assertion).

As under gunicorn (``preload_app``, sync workers), this process builds the app
once (``gateway.app.create_app``) and forks one worker per bundle size. Each
worker posts one N-entry TDDUI transaction (``bench.stack.BundleFactory``)
through the real Flask route and pipeline; only HAPI's HTTP exchange
(``HapiClient._call``) is replaced by a stand-in that answers what HAPI answers
with ``Prefer: return=representation``: every stored resource, read from a
file as ``requests`` reads it from the socket. The worker's resident memory
(VmRSS) and its peak so far (VmHWM) are read at the end of each stage:

    start-up  the preloaded app, as a fresh worker holds it
    parse     body read and decoded
    judge     normalised and checked
    receipt   forwarded transaction built
    forward   forwarded body encoded, HAPI's answer read
    relay     answer cut back and encoded
    answer    Flask response ready

    .venv/bin/python bench/worker_memory.py [--entries 1000,10000]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from tests.cases import package_dir  # noqa: E402

STAGES = ("start-up", "parse", "judge", "receipt", "forward", "relay", "answer")
FINESS = "810000001"


def memory_mb() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process, in MB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def hapi_representation(bundle: dict) -> dict:
    """The transaction-response HAPI gives for ``bundle`` stored whole: each resource with its id and meta."""
    entries = []
    for number, entry in enumerate(bundle["entry"], start=1):
        resource = dict(entry["resource"], id=str(number))
        resource["meta"] = {**resource.get("meta", {}), "versionId": "1",
                            "lastUpdated": "2026-01-01T00:00:00.000+00:00"}
        location = f"{resource['resourceType']}/{number}/_history/1"
        entries.append({"response": {"status": "201 Created", "location": location, "etag": 'W/"1"',
                                     "lastModified": "2026-01-01T00:00:00.000+00:00"}, "resource": resource})
    return {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}


def write_inputs(sizes: list[int], directory: Path) -> None:
    """Each size's request body and HAPI's answer to it, as files (built in a child: the factory's
    engine must not weigh on the measured process)."""
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            from bench.stack import BundleFactory, body_of
            factory = BundleFactory()
            for size in sizes:
                bundle = factory.make(size, FINESS)
                (directory / f"{size}.request.json").write_bytes(body_of(bundle))
                (directory / f"{size}.answer.json").write_bytes(body_of(hapi_representation(bundle)))
            status = 0
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    if status:
        raise SystemExit("building the bundles failed")


def instrument(samples: list[tuple[str, float, float]], answer_file: Path) -> None:
    """Sample memory at the end of each stage; HAPI's exchange answers from ``answer_file``."""
    from gateway import intake, receipt, relay
    from gateway.conformance import ConformanceEngine
    from gateway.hapi import HapiAnswer, HapiClient

    def after(stage: str, function):
        def sampled(*args, **kwargs):
            result = function(*args, **kwargs)
            samples.append((stage, *memory_mb()))
            return result
        return sampled

    def stand_in(_client, _method, _url, **_request):
        return HapiAnswer(200, answer_file.read_bytes(), "application/fhir+json;charset=utf-8")

    intake.parse_resource = after("parse", intake.parse_resource)
    ConformanceEngine.judge = after("judge", ConformanceEngine.judge)
    receipt.decide = after("receipt", receipt.decide)
    HapiClient._call = after("forward", stand_in)
    relay.relay = after("relay", relay.relay)


def measure(app, size: int, directory: Path) -> dict:
    """Fork a worker, post the ``size``-entry bundle through the app, report its memory by stage."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        report = {"status": None, "samples": []}
        try:
            samples = report["samples"]
            samples.append(("start-up", *memory_mb()))
            instrument(samples, directory / f"{size}.answer.json")
            request = directory / f"{size}.request.json"
            with request.open("rb") as body, app.test_client() as client:
                answer = client.post("/", input_stream=body, content_length=request.stat().st_size,
                                     headers={"Content-Type": "application/fhir+json"})
                samples.append(("answer", *memory_mb()))
                report["status"] = answer.status_code
        finally:
            os.write(write_end, json.dumps(report).encode())
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        report = json.loads(pipe.read() or b"{}")
    os.waitpid(pid, 0)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", default="1000,10000", help="comma-separated bundle sizes")
    args = parser.parse_args(argv)
    sizes = [int(size) for size in args.entries.split(",")]

    with tempfile.TemporaryDirectory(prefix="tddui-worker-memory-") as work:
        directory = Path(work)
        write_inputs(sizes, directory)
        os.environ.update({"FHIR_PACKAGE_DIR": str(package_dir()), "GATEWAY_AUTH": "off",
                           "HAPI_BASE_URL": "http://127.0.0.1:9/fhir", "LOG_LEVEL": "WARNING",
                           "GATEWAY_MAX_ENTRIES": str(max(sizes)),
                           "GATEWAY_MAX_BODY_BYTES": str(max(f.stat().st_size for f in directory.iterdir()))})
        imported = memory_mb()
        from gateway.app import create_app
        app = create_app()
        print(f"start-up: {imported[0]:.0f} MB before importing the gateway; app built: "
              f"RSS {memory_mb()[0]:.0f} MB, peak {memory_mb()[1]:.0f} MB (the preloading master)")
        print(f"{'entries':>8} | {'body MB':>7} | {'status':>6} | " +
              " | ".join(f"{stage:>9}" for stage in STAGES) + " | worker peak")
        for size in sizes:
            report = measure(app, size, directory)
            stages = {stage: (rss, peak) for stage, rss, peak in report["samples"]}
            body_mb = (directory / f"{size}.request.json").stat().st_size / 1e6
            cells = " | ".join(f"{stages[stage][0]:>4.0f}/{stages[stage][1]:<4.0f}" if stage in stages else f"{'-':>9}"
                               for stage in STAGES)
            peak = max(peak for _, _, peak in report["samples"])
            print(f"{size:>8,} | {body_mb:>7.1f} | {report['status']!s:>6} | {cells} | {peak:.0f} MB", flush=True)
            if report["status"] not in (200, 201):
                print(f"the {size}-entry bundle was not accepted", file=sys.stderr)
                return 1
    print("cells: the worker's RSS / peak RSS (VmHWM) so far, in MB, at the end of each stage")
    return 0


if __name__ == "__main__":
    sys.exit(main())
