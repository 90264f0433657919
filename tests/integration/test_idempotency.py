"""Resent and concurrent submissions against the real HAPI: one set of resources, ever."""
from __future__ import annotations

import json
import threading

from gateway.audit import SUBMISSION_TAG_SYSTEM
from tests.conftest import TEST_API_KEY

STORED_TYPES = ("Patient", "Organization", "Encounter", "Provenance")


def post(client, bundle: dict):
    return client.post("/", data=json.dumps(bundle), content_type="application/fhir+json")


def business_counts(hapi, bundle: dict) -> dict:
    """How many stored resources carry each entry's business identifier."""
    counts = {}
    for entry in bundle["entry"]:
        resource = entry["resource"]
        identifier = resource["identifier"][0]
        counts[resource["resourceType"]] = hapi.count(
            resource["resourceType"], identifier=f"{identifier['system']}|{identifier['value']}")
    return counts


def test_the_same_bundle_twice_creates_nothing_the_second_time(gateway, hapi, fresh_bundle):
    first = post(gateway, fresh_bundle)
    assert first.status_code == 201, first.get_data(as_text=True)
    totals = {kind: hapi.count(kind) for kind in STORED_TYPES}

    second = post(gateway, fresh_bundle)

    assert second.status_code == 200, second.get_data(as_text=True)
    assert [e["response"]["status"] for e in second.get_json()["entry"]] == ["200 OK"] * 4
    assert {kind: hapi.count(kind) for kind in STORED_TYPES} == totals
    first_ids = [e["resource"]["id"] for e in first.get_json()["entry"]]
    assert [e["resource"]["id"] for e in second.get_json()["entry"]] == first_ids


def test_identical_bundles_sent_concurrently_store_one_set(gateway_app, running_hapi, fresh_bundle):
    hapi = running_hapi
    producers = 4
    start = threading.Barrier(producers)
    statuses = []

    def producer():
        client = gateway_app.test_client()
        client.environ_base["HTTP_X_API_KEY"] = TEST_API_KEY
        start.wait()
        statuses.append(post(client, fresh_bundle).status_code)

    threads = [threading.Thread(target=producer) for _ in range(producers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)

    assert len(statuses) == producers and set(statuses) <= {200, 201}, statuses
    assert statuses.count(201) >= 1
    assert business_counts(hapi, fresh_bundle) == {"Patient": 1, "Organization": 1, "Encounter": 1}


def audit_line(caplog, request_id: str) -> dict:
    """The structured fields of the one audit record of that request."""
    records = [r.fields for r in caplog.records if getattr(r, "fields", {}).get("request_id") == request_id]
    assert len(records) == 1, records
    return records[0]


def test_audit_trail_is_stored_with_the_data_and_logged(gateway, hapi, fresh_bundle, caplog):
    caplog.set_level("INFO", logger="tddui.audit")
    response = post(gateway, fresh_bundle)
    assert response.status_code == 201
    request_id = response.headers["X-Request-ID"]

    line = audit_line(caplog, request_id)
    assert line["producer"] == "test-dui" and line["status"] == 201
    assert hapi.count("Provenance", _tag=f"{SUBMISSION_TAG_SYSTEM}|{line['submission_id']}") == 1

    del fresh_bundle["entry"][2]["resource"]["subject"]
    refused = gateway.post("/", data=json.dumps(fresh_bundle), content_type="application/fhir+json",
                           headers={"X-Request-ID": "producer-chosen-id-42"})
    assert refused.status_code == 422 and refused.headers["X-Request-ID"] == "producer-chosen-id-42"
    logged = audit_line(caplog, "producer-chosen-id-42")
    assert logged["status"] == 422 and logged["issues"] >= 1 and logged["producer"] == "test-dui"
