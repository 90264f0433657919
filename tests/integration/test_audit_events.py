"""Every submission leaves an AuditEvent in the real HAPI: in its own transaction when accepted, alone when refused."""
from __future__ import annotations

import json
import time
from dataclasses import replace

import pytest
import requests

from gateway import audit_event
from gateway.app import create_app
from tests.conftest import BACKENDS, TEST_API_KEY

on_both_databases = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


def submission_of(hapi, request_id: str) -> audit_event.Submission:
    """The one AuditEvent of a request; a refusal's is written in the background, so wait for it a little."""
    deadline = time.monotonic() + 20
    while True:
        found = [s for s in audit_event.search(hapi.base_url, producer="test-dui", limit=200)
                 if s.request_id == request_id]
        if found or time.monotonic() > deadline:
            assert len(found) == 1, found
            return found[0]
        time.sleep(0.5)


@on_both_databases
def test_an_accepted_submission_is_audited_with_its_legal_entity_and_no_patient_data(gateway, hapi, fresh_bundle):
    answer = gateway.post("/", data=json.dumps(fresh_bundle), content_type="application/fhir+json")
    assert answer.status_code == 201
    assert len(answer.get_json()["entry"]) == len(fresh_bundle["entry"])  # the AuditEvent is not answered

    audited = submission_of(hapi, answer.headers["X-Request-ID"])
    organisation = next(e["resource"] for e in fresh_bundle["entry"] if e["resource"]["resourceType"] == "Organization")
    assert audited.legal_entity == organisation["identifier"][0]["value"]
    assert (audited.status, audited.entries, audited.issues) == (200, 3, ())
    stored = json.dumps(hapi_resource(hapi, audited.id))
    patient = fresh_bundle["entry"][0]["resource"]
    assert patient["identifier"][0]["value"] not in stored and patient["name"][0]["family"] not in stored


def hapi_resource(hapi, audit_event_id: str) -> dict:
    return requests.get(f"{hapi.base_url}/AuditEvent/{audit_event_id}", timeout=30).json()


@on_both_databases
def test_a_refusal_is_audited_with_its_rule_ids(gateway, hapi, fresh_bundle):
    del fresh_bundle["entry"][2]["resource"]["subject"]
    answer = gateway.post("/", data=json.dumps(fresh_bundle), content_type="application/fhir+json")
    assert answer.status_code == 422

    audited = submission_of(hapi, answer.headers["X-Request-ID"])
    assert audited.status == 422 and audited.refused
    assert "Bundle.entry[2].resource.subject" in [issue.expression for issue in audited.issues]


def test_an_unreachable_hapi_never_blocks_the_refusal(settings, fresh_bundle):
    app = create_app(replace(settings, hapi_base_url="http://127.0.0.1:9/fhir"))
    started = time.monotonic()
    answer = app.test_client().post("/", data=json.dumps(fresh_bundle), content_type="application/fhir+json",
                                    headers={"X-API-Key": TEST_API_KEY})
    assert answer.status_code == 503
    assert time.monotonic() - started < 10
