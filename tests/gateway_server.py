"""The gateway as a real HTTP server process: gunicorn with the production settings module.

Used by the proxy tests (nginx needs a real server to proxy to), by
``scripts/run-proxy`` and by the benchmarks (``bench/stack.py``). Producers
are passed inline when they fit in one environment string, else in a file.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import requests

from tests.cases import package_dir
from tests.hapi_server import ROOT, free_port, stop_process_group

GUNICORN = ROOT / ".venv" / "bin" / "gunicorn"
# GATEWAY_PRODUCERS is one environment string: Linux caps one at 128 KiB.
INLINE_PRODUCERS_MAX = 100_000
READY_TIMEOUT_S = 180


class GatewayServer:
    """gunicorn serving ``gateway.app:create_app()`` on a free loopback port, logging to a file."""

    def __init__(self, workdir: Path, hapi_base_url: str, producers: list[dict], workers: int = 2,
                 extra_env: dict[str, str] | None = None):
        self.workdir = Path(workdir)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = self.workdir / "gateway.log"
        metrics_dir = self.workdir / "metrics"
        metrics_dir.mkdir(parents=True, exist_ok=True)
        self.env = dict(os.environ, HAPI_BASE_URL=hapi_base_url, GATEWAY_HOST="127.0.0.1",
                        GATEWAY_PORT=str(self.port), GATEWAY_WORKERS=str(workers), GATEWAY_AUTH="required",
                        FHIR_PACKAGE_DIR=str(package_dir()), LOG_FORMAT="json",
                        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir), **(extra_env or {}))
        self.env.pop("GATEWAY_PRODUCERS_FILE", None)
        self.env.pop("GATEWAY_PRODUCERS", None)
        document = json.dumps({"producers": producers})
        if len(document) <= INLINE_PRODUCERS_MAX:
            self.env["GATEWAY_PRODUCERS"] = document
        else:
            producers_file = self.workdir / "producers.json"   # JSON is YAML
            producers_file.write_text(document)
            self.env["GATEWAY_PRODUCERS_FILE"] = str(producers_file)
        self.process: subprocess.Popen | None = None

    def start(self) -> float:
        """Start and wait for ``/readyz``; the seconds it took."""
        started = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(GUNICORN), "--config", "python:gateway.gunicorn_conf", "gateway.app:create_app()"],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if requests.get(self.url + "readyz", timeout=5).status_code == 200:
                    return time.monotonic() - started
            except requests.RequestException:
                pass
            time.sleep(1)
        self.stop()
        raise RuntimeError(f"gateway not ready after {READY_TIMEOUT_S} s:\n{self.log_tail()}")

    def stop(self) -> None:
        stop_process_group(self.process, grace_seconds=30)
        self.process = None

    def log_lines(self) -> list[str]:
        try:
            return self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []

    def audit_records(self) -> list[dict]:
        """The JSON audit lines (``event: submission``) the gateway logged so far."""
        records = []
        for line in self.log_lines():
            if not line.startswith("{"):
                continue
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("event") == "submission":
                records.append(record)
        return records

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_lines()[-lines:]) or "(no log)"
