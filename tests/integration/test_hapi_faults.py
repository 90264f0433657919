"""Faults a real HAPI cannot be made to produce on demand, from a stand-in socket.

Only in addition to the real-server tests: a listener that accepts the
connection and never answers, to prove the gateway answers 504 in time.
"""
from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import replace

import pytest

from gateway.app import create_app
from tests.conftest import TEST_API_KEY


@pytest.fixture()
def silent_server():
    """A TCP server that accepts connections and never sends a byte."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held = []
    stop = threading.Event()

    def accept_forever():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/fhir"
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


def test_silent_hapi_gives_504_within_the_read_timeout(settings, silent_server, ig_example_bundle):
    app = create_app(replace(settings, hapi_base_url=silent_server, hapi_read_timeout=1.0))
    started = time.monotonic()
    response = app.test_client().post("/", data=json.dumps(ig_example_bundle),
                                      content_type="application/fhir+json",
                                      headers={"Accept-Language": "en", "X-API-Key": TEST_API_KEY})
    elapsed = time.monotonic() - started
    assert response.status_code == 504
    issue = response.get_json()["issue"][0]
    assert issue["code"] == "timeout" and "did not answer" in issue["diagnostics"]
    assert elapsed < 10, f"the gateway waited {elapsed:.1f} s for a 1 s timeout"


def test_unreachable_hapi_gives_503(settings, ig_example_bundle):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    app = create_app(replace(settings, hapi_base_url=f"http://127.0.0.1:{closed_port}/fhir"))
    response = app.test_client().post("/", data=json.dumps(ig_example_bundle),
                                      content_type="application/fhir+json",
                                      headers={"X-API-Key": TEST_API_KEY})
    assert response.status_code == 503
    assert response.get_json()["issue"][0]["code"] == "transient"
