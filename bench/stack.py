"""Shared set-up of the end-to-end benchmark and the load test.

* ``Stack``: a HAPI FHIR JPA server (``tests.hapi_server.HapiServer``: the
  ``scripts/hapi`` launcher on a free port, an H2 database in a temporary
  directory or a given PostgreSQL database; request validation ``full`` or
  ``trusted``) and the gateway under gunicorn in front of it, with generated
  producers; both stopped, with their process groups, on ``stop()``.
* ``BenchProducer``: one producer, its API key and its own pool of FINESS
  numbers (one legal entity per bundle, so idempotent creates never match a
  resource of another bundle).
* ``BundleFactory``: valid TDDUI transactions of N entries built from the IG
  example (``bench.engine_bench.generated_bundle``) with one Organization,
  patients and stays, every business identifier unique in the run.
* ``post``/``run_concurrently``: timed POSTs by concurrent producer threads.
* ``machine``, ``percentile``, ``write_section``: report helpers.
"""
from __future__ import annotations

import copy
import itertools
import json
import os
import platform
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.engine_bench import generated_bundle  # noqa: E402
from gateway.auth import hash_api_key  # noqa: E402
from gateway.config import Settings  # noqa: E402
from gateway.conformance import ConformanceEngine  # noqa: E402
from tests.cases import package_dir  # noqa: E402
from tests.conftest import FINESS_SYSTEM, ID_NAT_ST_SYSTEM  # noqa: E402
from tests.gateway_server import GatewayServer  # noqa: E402
from tests.hapi_server import HapiServer  # noqa: E402

FHIR_JSON = "application/fhir+json"
STORED_TYPES = ("Patient", "Organization", "Encounter", "Provenance")


# ------------------------------------------------------------------ producers
@dataclass
class BenchProducer:
    """A producer of the benchmark: its key and the FINESS numbers it may use, each once."""

    id: str
    api_key: str
    finess: list[str]
    _next: itertools.count = field(default_factory=itertools.count, repr=False)

    @classmethod
    def generated(cls, number: int, pool: int) -> "BenchProducer":
        # 9-digit FINESS "8PPNNNNNN": producer PP, facility NNNNNN (no clash with the tests' 9700xxxxx).
        return cls(f"bench-dui-{number:02d}", secrets.token_hex(16),
                   [f"8{number:02d}{facility:06d}" for facility in range(pool)])

    def reset(self) -> None:
        """Use the pool again from the start (for a stack on a new database)."""
        self._next = itertools.count()

    def take_finess(self) -> str:
        index = next(self._next)
        if index >= len(self.finess):
            raise PoolExhausted(f"{self.id}: all {len(self.finess)} FINESS numbers used")
        return self.finess[index]

    def headers(self) -> dict:
        return {"X-API-Key": self.api_key, "Content-Type": FHIR_JSON, "Accept": FHIR_JSON}

    def config(self) -> dict:
        return {"id": self.id, "api_key_sha256": [hash_api_key(self.api_key)], "finess": self.finess}


class PoolExhausted(RuntimeError):
    pass


def producers(count: int, pool: int) -> list[BenchProducer]:
    return [BenchProducer.generated(number, pool) for number in range(count)]


# ------------------------------------------------------------------ bundles
class BundleFactory:
    """Valid N-entry TDDUI transactions, normalised as the gateway forwards them.

    The layout is ``generated_bundle``'s (patient, organization, stay, ...)
    with every Organization after the first turned into one more stay, so a
    bundle names one legal entity. Each template is judged once by the
    gateway's own engine: it must be accepted, and its normalised form
    (``Bundle.meta.profile`` and each entry's ``meta.profile`` written) is what
    is sent, both straight to HAPI and through the gateway. Every bundle then
    gets identifiers of its own: patient INS, stay ids, the Organization's
    FINESS / idNatSt.
    """

    def __init__(self):
        self.engine = ConformanceEngine.load(Settings(package_dir=package_dir()))
        self.templates: dict[int, dict] = {}
        self.patients = itertools.count(1)   # shared by all threads: next() is atomic under the GIL
        self.stays = itertools.count(1)
        self.lock = threading.Lock()

    def template(self, size: int) -> dict:
        with self.lock:
            if size not in self.templates:
                self.templates[size] = self._judged(one_organisation(generated_bundle(size)))
            return self.templates[size]

    def _judged(self, bundle: dict) -> dict:
        verdict = self.engine.judge(bundle)
        if not verdict.accepted:
            raise RuntimeError(f"generated {len(bundle['entry'])}-entry bundle refused by the engine: "
                               f"{[i.message.en for i in verdict.issues if i.blocking][:3]}")
        return verdict.bundle

    def make(self, size: int, finess: str) -> dict:
        bundle = copy.deepcopy(self.template(size))
        for entry in bundle["entry"]:
            resource = entry["resource"]
            kind = resource["resourceType"]
            for identifier in resource.get("identifier") or []:
                if kind == "Organization":
                    if identifier.get("system") == ID_NAT_ST_SYSTEM:
                        identifier["value"] = "1" + finess
                    elif identifier.get("system") == FINESS_SYSTEM:
                        identifier["value"] = finess
                elif kind == "Patient":
                    # INS-NIR: keep the 15 digits, the last 10 a counter of the run.
                    identifier["value"] = identifier["value"][:5] + f"{next(self.patients):010d}"
                elif kind == "Encounter":
                    identifier["value"] = f"{identifier['value'].split('-')[0]}-BENCH-{next(self.stays)}"
        return bundle

    @staticmethod
    def stored_per_bundle(bundle: dict) -> dict[str, int]:
        """Resources HAPI stores for one accepted bundle (the gateway adds one Provenance)."""
        counts = dict.fromkeys(STORED_TYPES, 0)
        for entry in bundle["entry"]:
            counts[entry["resource"]["resourceType"]] += 1
        counts["Provenance"] += 1
        return counts


def one_organisation(bundle: dict) -> dict:
    """Keep the first Organization of a generated bundle; every other becomes a stay."""
    entries = bundle["entry"]
    organisation = next(e for e in entries if e["resource"]["resourceType"] == "Organization")
    stay = next(e for e in entries if e["resource"]["resourceType"] == "Encounter")
    patient_url = None
    for index, entry in enumerate(entries):
        kind = entry["resource"]["resourceType"]
        if kind == "Patient":
            patient_url = entry["fullUrl"]
        elif kind == "Organization" and entry is not organisation:
            replacement = copy.deepcopy(stay)
            replacement["fullUrl"] = entry["fullUrl"]
            replacement["resource"]["id"] = f"{stay['resource']['id'][:40]}-o{index}"
            replacement["resource"]["identifier"][0]["value"] += f"-o{index}"
            replacement["resource"]["subject"] = {"reference": patient_url}
            entries[index] = entry = replacement
        if entry["resource"]["resourceType"] == "Encounter":
            entry["resource"]["serviceProvider"] = {"reference": organisation["fullUrl"]}
    return bundle


def body_of(bundle: dict) -> bytes:
    return json.dumps(bundle, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


# ------------------------------------------------------------------ the stack
class Stack:
    """HAPI (fresh H2 database) and the gateway under gunicorn, in a temporary directory."""

    def __init__(self, bench_producers: list[BenchProducer], workers: int = 2, keep_dir: bool = False,
                 request_validation: str = "full", database: dict | None = None):
        self.producers = bench_producers
        self.workers = workers
        self.request_validation = request_validation   # HAPI_REQUEST_VALIDATION
        self.database = database or {}                 # HapiServer arguments; none: H2 in the work dir
        self.workdir = Path(tempfile.mkdtemp(prefix="tddui-bench-"))
        self.keep_dir = keep_dir
        self.hapi: HapiServer | None = None
        self.gateway: GatewayServer | None = None
        self.gateway_url = ""

    def __enter__(self) -> "Stack":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        # SIGTERM (e.g. a CI timeout) unwinds like Ctrl-C, so stop() still runs.
        signal.signal(signal.SIGTERM, _raise_interrupt)
        (self.workdir / "hapi").mkdir()
        extra_env = {**self.database.get("extra_env", {}), "HAPI_REQUEST_VALIDATION": self.request_validation}
        self.hapi = HapiServer(self.workdir / "hapi", self.database.get("datasource_url"), extra_env)
        print(f"==> starting HAPI on {self.hapi.base_url} (request validation {self.request_validation}, "
              f"{self.database.get('datasource_url') or 'H2 in ' + str(self.workdir / 'hapi')})", flush=True)
        self.hapi.start()
        print(f"    ready in {self.hapi.last_start_seconds:.1f} s", flush=True)
        self._start_gateway()

    def _start_gateway(self) -> None:
        # A loaded machine's HAPI can take minutes over a 1,000-entry bundle: measure it, do not 504 it.
        self.gateway = GatewayServer(self.workdir, self.hapi.base_url, [p.config() for p in self.producers],
                                     workers=self.workers,
                                     extra_env={"HAPI_READ_TIMEOUT": os.environ.get("HAPI_READ_TIMEOUT", "900")})
        self.gateway_url = self.gateway.url
        print(f"==> starting the gateway under gunicorn on {self.gateway_url} ({self.workers} workers, "
              f"{len(self.producers)} producers)", flush=True)
        print(f"    ready in {self.gateway.start():.1f} s", flush=True)

    def gateway_log_tail(self, lines: int = 40) -> str:
        return self.gateway.log_tail(lines) if self.gateway else "(no log)"

    def stop(self) -> None:
        if self.gateway:
            self.gateway.stop()
            self.gateway = None
        if self.hapi:
            self.hapi.stop()
            self.hapi = None
        if not self.keep_dir:
            subprocess.run(["rm", "-rf", str(self.workdir)], check=False)
        else:
            print(f"    logs and database kept in {self.workdir}")

    def worker_peak_rss_mb(self) -> list[float]:
        """Peak resident memory (VmHWM) of each gunicorn worker so far, in MB."""
        peaks = []
        for status in Path("/proc").glob("[0-9]*/status"):
            try:
                fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            except OSError:
                continue
            master = self.gateway.process if self.gateway else None
            if master and fields.get("PPid", "").strip() == str(master.pid) and "VmHWM" in fields:
                peaks.append(int(fields["VmHWM"].split()[0]) / 1024)
        return sorted(peaks)

    def stored(self) -> dict[str, int]:
        """Resources HAPI holds now, by type (``_summary=count``, ``Cache-Control: no-cache``)."""
        return {kind: self.hapi.count(kind) for kind in STORED_TYPES}


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


# ------------------------------------------------------------------ timed requests
@dataclass
class Result:
    producer: str
    started: float      # perf_counter at send
    seconds: float
    status: int          # 0: no HTTP answer
    error: str = ""


def post(session: requests.Session, url: str, body: bytes, headers: dict, producer: str,
         ok: tuple[int, ...], timeout: float = 600) -> Result:
    started = time.perf_counter()
    try:
        answer = session.post(url, data=body, headers=headers, timeout=timeout)
        seconds = time.perf_counter() - started
        error = "" if answer.status_code in ok else answer.text[:300]
        return Result(producer, started, seconds, answer.status_code, error)
    except requests.RequestException as failure:
        return Result(producer, started, time.perf_counter() - started, 0, repr(failure)[:300])


def run_concurrently(workers: list) -> float:
    """Start every worker callable at once (a barrier), wait for all; the wall-clock seconds."""
    barrier = threading.Barrier(len(workers) + 1)
    failures = []

    def run(worker):
        barrier.wait()
        try:
            worker()
        except BaseException as failure:   # noqa: BLE001 - reported below
            failures.append(failure)

    threads = [threading.Thread(target=run, args=(worker,), daemon=True) for worker in workers]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    if failures:
        raise failures[0]
    return wall


# ------------------------------------------------------------------ reporting
def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def machine() -> dict:
    model = "unknown"
    try:
        match = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        model = match.group(1).strip() if match else model
        mem_kib = int(re.search(r"^MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text(), re.M).group(1))
        ram = f"{mem_kib / 1024 / 1024:.1f} GiB"
    except (OSError, AttributeError):
        ram = "unknown"
    java = subprocess.run(["java", "-version"], capture_output=True, text=True).stderr.splitlines()
    return {"nproc": os.cpu_count(), "ram": ram, "cpu": model, "python": platform.python_version(),
            "java": java[0] if java else "unknown", "kernel": platform.release()}


def machine_line() -> str:
    m = machine()
    return (f"{m['nproc']} CPUs (`nproc`), {m['ram']} RAM, CPU `{m['cpu']}`; "
            f"Python {m['python']}, {m['java']}, Linux {m['kernel']}")


def write_section(path: Path, name: str, text: str) -> None:
    """Replace (or append) the block between ``<!-- name:begin -->`` and ``<!-- name:end -->``."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{text.rstrip()}\n{end}"
    current = path.read_text(encoding="utf-8") if path.exists() else RESULTS_HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    updated = pattern.sub(lambda _: block, current) if pattern.search(current) else current.rstrip() + "\n\n" + block + "\n"
    path.write_text(updated if updated.endswith("\n") else updated + "\n", encoding="utf-8")


RESULTS_HEADER = """# Benchmark results: gateway vs. HAPI FHIR, end to end

Written by `bench/e2e_bench.py` and `bench/load_test.py` (each replaces its own
section below). Both start their own HAPI FHIR JPA server (`scripts/hapi`,
fresh H2 database in a temporary directory) and the gateway under gunicorn
(`.venv/bin/gunicorn --config python:gateway.gunicorn_conf "gateway.app:create_app()"`)
with generated producers, on free ports, and stop both at the end.
"""
