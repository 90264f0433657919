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


def test_slow_checks_leave_hapi_only_what_is_left_of_the_time_budget(silent_server):
    """gunicorn kills a worker silent for connect + read + 30 s (a bare HTML 500, nothing logged):
    when the checks of a huge bundle took most of the budget, HAPI gets only the rest, so the
    producer still gets the gateway's 504 in time. Seen: 34 s of checks under load, then 891 s for HAPI."""
    from gateway.hapi import HapiClient
    from gateway.intake import Rejected

    client = HapiClient(silent_server, connect_timeout=5, read_timeout=60)
    arrived = time.monotonic() - 63   # the checks used 63 of the 65 s of budget
    started = time.monotonic()
    with pytest.raises(Rejected) as refusal:
        client.post_transaction({"resourceType": "Bundle", "type": "transaction"}, started=arrived)
    assert refusal.value.status == 504
    assert time.monotonic() - started < 10, "HAPI was given the whole read timeout again"
