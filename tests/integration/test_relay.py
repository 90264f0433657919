"""The gateway in front of a real HAPI server: create, refuse, relay."""
from __future__ import annotations

import json

import pytest
import requests

from gateway.descriptor import SuccessAnswer
from gateway.hapi import HapiAnswer
from gateway.receipt import RequestMutation
from gateway.relay import relay
from tests.conftest import BACKENDS

FHIR_JSON = "application/fhir+json"
STORED_TYPES = ("Patient", "Organization", "Encounter")


# The foundation's end-to-end tests run on both databases HAPI supports here.
pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)


def post(gateway, bundle: dict):
    return gateway.post("/", data=json.dumps(bundle), content_type=FHIR_JSON)


def encounter_of(bundle: dict) -> dict:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Encounter")


def errors(outcome: dict) -> list[str]:
    return [issue.get("diagnostics") for issue in outcome["issue"] if issue["severity"] in ("error", "fatal")]


def counts(hapi) -> dict:
    return {resource_type: hapi.count(resource_type) for resource_type in STORED_TYPES}


def test_ig_example_is_created_with_ids_versions_and_links(gateway, hapi, fresh_bundle):
    response = post(gateway, fresh_bundle)

    assert response.status_code == 201, response.get_data(as_text=True)
    answer = response.get_json()
    assert answer["resourceType"] == "Bundle" and answer["type"] == "transaction-response"
    created = {entry["resource"]["resourceType"]: entry["resource"] for entry in answer["entry"]}
    assert [e["resource"]["resourceType"] for e in answer["entry"]] == \
        [e["resource"]["resourceType"] for e in fresh_bundle["entry"]]  # the audit Provenance is not answered
    for entry in answer["entry"]:
        resource = entry["resource"]
        assert resource["id"] and resource["meta"]["versionId"] and resource["meta"]["lastUpdated"]
        assert entry["response"]["status"].startswith("201")
        stored = requests.get(f"{hapi.base_url}/{resource['resourceType']}/{resource['id']}", timeout=30)
        assert stored.status_code == 200
        assert stored.json()["meta"]["versionId"] == resource["meta"]["versionId"]
    encounter = created["Encounter"]
    assert encounter["subject"]["reference"] == f"Patient/{created['Patient']['id']}"
    assert encounter["serviceProvider"]["reference"] == f"Organization/{created['Organization']['id']}"
    trail = requests.get(f"{hapi.base_url}/Provenance", params={"target": f"Patient/{created['Patient']['id']}"},
                         headers={"Cache-Control": "no-cache"}, timeout=30).json()["entry"]
    assert len(trail) == 1
    audit_trail = trail[0]["resource"]
    assert audit_trail["agent"][0]["who"]["identifier"]["value"] == "test-dui"
    assert sorted(target["reference"] for target in audit_trail["target"]) == sorted(
        f"{kind}/{created[kind]['id']}/_history/1" for kind in STORED_TYPES)


def test_gateway_refusal_names_the_element_and_nothing_reaches_hapi(gateway, hapi, fresh_bundle):
    del encounter_of(fresh_bundle)["subject"]
    before = counts(hapi)

    response = post(gateway, fresh_bundle)

    assert response.status_code == 422
    issues = response.get_json()["issue"]
    assert any(issue["severity"] == "error" and issue["code"] == "required"
               and issue.get("expression") == ["Bundle.entry[2].resource.subject"] for issue in issues)
    assert counts(hapi) == before


def test_hapi_refusal_is_relayed_as_hapi_wrote_it(hapi, fresh_bundle):
    """The relay stage on a real refusal of HAPI: status and OperationOutcome unchanged.

    A stay ending later on the day it starts: HAPI's per-1 refuses it (its
    FHIRPath counts the empty comparison of a date with a dateTime as false);
    the gateway now refuses it first (fhir-period-precision, and
    tests/integration/test_hapi_refusals.py), so HAPI's answer is fed to the
    relay stage here.
    """
    encounter_of(fresh_bundle)["period"] = {"start": "2023-04-14", "end": "2023-04-14T12:00:00+01:00"}
    before = counts(hapi)
    direct = requests.post(f"{hapi.base_url}/", data=json.dumps(fresh_bundle),
                           headers={"Content-Type": FHIR_JSON, "Prefer": "return=minimal"}, timeout=120)
    assert direct.status_code == 422
    answer = HapiAnswer(direct.status_code, direct.content, direct.headers["Content-Type"])
    mutation = RequestMutation({"resourceType": "Bundle"}, len(fresh_bundle["entry"]), (None,) * 3)
    # a refusal is relayed whatever the release's success answer
    any_release = SuccessAnswer(201, 200, "201 Created", "200 OK")
    assert relay(answer, mutation, any_release) == (422, direct.json())
    assert any("per-1" in diagnostics for diagnostics in errors(direct.json()))
    assert counts(hapi) == before
