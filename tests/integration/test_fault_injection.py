"""Faults around a real HAPI: a crash under load, and an answer lost after the commit.

The lost answer needs a stand-in (HAPI cannot be made to drop its own reply):
a proxy that forwards to the real HAPI and closes the connection instead of
relaying the answer.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from gateway.app import create_app
from tests.conftest import TEST_API_KEY, as_submitted, freshen

ANSWER_BOUND_S = 60  # a hang detector, not a speed goal


def post(client, bundle: dict):
    return client.post("/", data=json.dumps(bundle), content_type="application/fhir+json",
                       headers={"X-API-Key": TEST_API_KEY})


def stored_counts(hapi, bundle: dict) -> tuple[int, ...]:
    """How many resources carry each entry's business identifier."""
    return tuple(hapi.count(entry["resource"]["resourceType"], identifier="{system}|{value}".format(
        **entry["resource"]["identifier"][0])) for entry in bundle["entry"])


@pytest.fixture()
def answer_dropping_proxy(running_hapi):
    """Forwards each request to HAPI, waits for HAPI's answer, then hangs up without relaying it."""
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            requests.post(running_hapi.base_url + self.path.removeprefix("/fhir"), data=body, timeout=120,
                          headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
            self.close_connection = True

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/fhir"
    server.shutdown()
    server.server_close()


def test_answer_lost_after_commit_then_resent_creates_no_duplicate(
        settings, gateway, running_hapi, answer_dropping_proxy, fresh_bundle):
    unlucky = create_app(replace(settings, hapi_base_url=answer_dropping_proxy)).test_client()

    lost = post(unlucky, fresh_bundle)
    assert lost.status_code == 502
    assert lost.get_json()["issue"][0]["details"]["coding"][0]["code"] == "gateway-hapi-dropped"
    assert stored_counts(running_hapi, fresh_bundle) == (1, 1, 1)  # HAPI did commit

    resent = post(gateway, fresh_bundle)
    assert resent.status_code == 200, resent.get_data(as_text=True)
    assert stored_counts(running_hapi, fresh_bundle) == (1, 1, 1)


def test_change_whose_answer_was_lost_is_stored_once_when_resent(
        settings, gateway, running_hapi, answer_dropping_proxy, fresh_bundle):
    unlucky = create_app(replace(settings, hapi_base_url=answer_dropping_proxy)).test_client()
    assert post(gateway, fresh_bundle).status_code == 201
    changed = json.loads(json.dumps(fresh_bundle))
    changed["entry"][0]["resource"]["telecom"] = [{"system": "phone", "value": "0699999999"}]

    assert post(unlucky, changed).status_code == 502
    resent = post(gateway, changed)

    assert resent.status_code == 200, resent.get_data(as_text=True)
    patient = resent.get_json()["entry"][0]["resource"]
    assert patient["telecom"] == [{"system": "phone", "value": "0699999999"}]
    assert patient["meta"]["versionId"] == "2", "the lost change was stored once, and the resend stored nothing"
    assert stored_counts(running_hapi, fresh_bundle) == (1, 1, 1)


def test_hapi_crash_under_load_gives_clean_refusals_and_no_partial_bundle(
        gateway_app, running_hapi, ig_example_bundle):
    hapi = running_hapi
    bundles = [freshen(as_submitted(json.loads(json.dumps(ig_example_bundle)))) for _ in range(40)]
    results: list[tuple[int, dict, float]] = []
    queue = list(enumerate(bundles))
    lock = threading.Lock()

    def producer():
        client = gateway_app.test_client()
        while True:
            with lock:
                if not queue:
                    return
                _, bundle = queue.pop(0)
            started = time.monotonic()
            response = post(client, bundle)
            results.append((response.status_code, response.get_json(), time.monotonic() - started))

    threads = [threading.Thread(target=producer) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(3)
    hapi.kill()
    for thread in threads:
        thread.join(timeout=ANSWER_BOUND_S * len(bundles))

    statuses = [status for status, _, _ in results]
    assert len(results) == len(bundles)
    assert set(statuses) <= {200, 201, 502, 503, 504}, statuses
    assert any(status >= 500 for status in statuses), "HAPI was killed before any request failed"
    for status, body, seconds in results:
        assert seconds < ANSWER_BOUND_S
        if status >= 500:
            assert body["resourceType"] == "OperationOutcome"

    hapi.start()  # the gateway is not restarted
    fresh = freshen(as_submitted(json.loads(json.dumps(ig_example_bundle))))
    assert post(gateway_app.test_client(), fresh).status_code == 201
    for bundle in bundles:
        assert stored_counts(hapi, bundle) in ((0, 0, 0), (1, 1, 1)), "a partial bundle was stored"
