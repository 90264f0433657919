"""HAPI going away and coming back: clear answers, data kept."""
from __future__ import annotations

import json

import pytest
import requests

from tests.conftest import BACKENDS

# The foundation's end-to-end tests run on both databases HAPI supports here.
pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


def test_metadata_and_health_are_served(gateway):
    statement = gateway.get("/metadata").get_json()
    assert statement["resourceType"] == "CapabilityStatement" and statement["kind"] == "instance"
    assert statement["rest"][0]["mode"] == "server"
    assert [i["code"] for i in statement["rest"][0]["interaction"]] == ["transaction"]
    assert any(url.startswith("https://interop.esante.gouv.fr/ig/fhir/tddui/CapabilityStatement/TDDUIConsommateur|")
               for url in statement["instantiates"])
    assert gateway.get("/healthz").status_code == 200
    assert gateway.get("/readyz").status_code == 200


def test_stopped_hapi_gives_503_and_restart_keeps_data(gateway, hapi, fresh_bundle):
    created = gateway.post("/", data=json.dumps(fresh_bundle),
                           content_type="application/fhir+json")
    assert created.status_code == 201
    patient_id = next(e["resource"]["id"] for e in created.get_json()["entry"]
                      if e["resource"]["resourceType"] == "Patient")

    hapi.stop()
    try:
        refused = gateway.post("/", data=json.dumps(fresh_bundle), content_type="application/fhir+json")
        assert refused.status_code == 503
        assert refused.get_json()["resourceType"] == "OperationOutcome"
        not_ready = gateway.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.get_json()["issue"][0]["code"] == "transient"
    finally:
        hapi.start()

    assert gateway.get("/readyz").status_code == 200
    again = requests.get(f"{hapi.base_url}/Patient/{patient_id}", timeout=30)
    assert again.status_code == 200
    print(f"HAPI restart to ready on an existing database: {hapi.last_start_seconds:.1f} s")
