"""A real HAPI FHIR JPA server, run as a plain Java process for the tests.

Started through ``scripts/hapi`` (the same command the run script uses) on a
free port with its own H2 database in a temporary directory, once per test
session; tests may stop and start it again on the same database.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
TDDUI_BUNDLE_PROFILE = "https://interop.esante.gouv.fr/ig/fhir/tddui/StructureDefinition/tddui-bundle"
START_TIMEOUT_S = 900


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop_process_group(process: subprocess.Popen | None, grace_seconds: float) -> None:
    """SIGTERM a process started in its own session, SIGKILL if it lingers."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_seconds)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


class HapiServer:
    """Start, stop and restart one HAPI process bound to one database."""

    def __init__(self, workdir: Path, datasource_url: str | None = None, extra_env: dict | None = None):
        self.workdir = workdir
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/fhir"
        self.log_path = workdir / "hapi.log"
        self.env = dict(os.environ,
                        SERVER_PORT=str(self.port),
                        SPRING_DATASOURCE_URL=datasource_url or f"jdbc:h2:file:{workdir}/h2",
                        **(extra_env or {}))
        self.process: subprocess.Popen | None = None
        self.last_start_seconds: float | None = None

    def start(self) -> None:
        started = time.monotonic()
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [str(ROOT / "scripts" / "hapi")], env=self.env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True)
        self._wait_ready()
        self.last_start_seconds = time.monotonic() - started

    def stop(self) -> None:
        stop_process_group(self.process, grace_seconds=60)
        self.process = None

    def kill(self) -> None:
        """A crash: SIGKILL, no shutdown hooks, whatever transaction is in flight."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.process = None

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def count(self, resource_type: str, **params) -> int:
        # no-cache: HAPI reuses search results for a minute, which would hide a change.
        answer = requests.get(f"{self.base_url}/{resource_type}", params={"_summary": "count", **params},
                              headers={"Cache-Control": "no-cache"}, timeout=60)
        answer.raise_for_status()
        return answer.json()["total"]

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"HAPI exited with {self.process.returncode}; log tail:\n{self.log_tail()}")
            try:
                if self.count("StructureDefinition", url=TDDUI_BUNDLE_PROFILE) > 0:
                    return
            except (requests.RequestException, KeyError, ValueError):
                pass
            time.sleep(2)
        self.stop()
        raise RuntimeError(f"HAPI not ready after {START_TIMEOUT_S} s; log tail:\n{self.log_tail()}")

    def log_tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
