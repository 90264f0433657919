"""Two entries naming one record: refused by the gateway, because HAPI in mass ingestion mode no longer does.

HAPI's mass ingestion mode (hapi-config/application.yaml) skips its own
post-write duplicate check, and HAPI merges entries whose conditional URLs are
identical without a word (hapi-fhir#8183): the gateway's BR-UNIQUE-BUSINESS-ID
is what keeps one record per business identifier.
"""
from __future__ import annotations

import copy
import json

import requests

from gateway.receipt import LEGAL_ENTITY_TAG_SYSTEM, conditional_url, scope_tag


def twin_patients(bundle: dict) -> dict:
    """The bundle with its patient sent a second time (another fullUrl and id, the same identifiers)."""
    twin = copy.deepcopy(bundle["entry"][0])
    twin["fullUrl"] = "urn:uuid:2b3c4d5e-6f70-4a1b-8c2d-3e4f5a6b7c8d"
    twin["resource"]["id"] = "patient-twin"
    twin["resource"]["telecom"] = [{"system": "phone", "value": "0600000000"}]
    bundle["entry"].append(twin)
    return bundle


def test_the_gateway_refuses_twins_naming_both_entries_and_stores_nothing(gateway, hapi, fresh_bundle):
    patient = fresh_bundle["entry"][0]["resource"]
    ins = patient["identifier"][0]
    response = gateway.post("/", data=json.dumps(twin_patients(fresh_bundle)), content_type="application/fhir+json")

    assert response.status_code == 422, response.get_data(as_text=True)
    issues = [i for i in response.get_json()["issue"]
              if i["details"]["coding"][0]["code"] == "BR-UNIQUE-BUSINESS-ID"]
    assert len(issues) == 1 and issues[0]["code"] == "duplicate"
    assert [e.split(".resource")[0] for e in issues[0]["expression"]] == ["Bundle.entry[3]", "Bundle.entry[0]"]
    assert hapi.count("Patient", identifier=f"{ins['system']}|{ins['value']}") == 0


def test_hapi_alone_merges_identical_conditional_urls_silently(running_hapi, fresh_bundle):
    """Why the rule is the gateway's: HAPI stores one patient for two entries, and answers 200."""
    patient = fresh_bundle["entry"][0]["resource"]
    tag = scope_tag("1" + "999999999")
    url = conditional_url("Patient", patient["identifier"][:1], tag)
    entries = []
    for number, phone in enumerate(("0611111111", "0622222222")):
        resource = {**copy.deepcopy(patient), "telecom": [{"system": "phone", "value": phone}],
                    "meta": {"tag": [tag]}}
        resource.pop("id")
        entries.append({"fullUrl": f"urn:uuid:0c1d2e3f-4a5b-4c6d-8e7f-00000000000{number}",
                        "resource": resource, "request": {"method": "PUT", "url": url}})
    answer = requests.post(running_hapi.base_url, json={"resourceType": "Bundle", "type": "transaction",
                                                        "entry": entries},
                           headers={"Content-Type": "application/fhir+json"}, timeout=120)

    assert answer.status_code == 200, answer.text
    ins = patient["identifier"][0]
    stored = requests.get(f"{running_hapi.base_url}/Patient", timeout=60, headers={"Cache-Control": "no-cache"},
                          params={"identifier": f"{ins['system']}|{ins['value']}",
                                  "_tag": f"{LEGAL_ENTITY_TAG_SYSTEM}|{tag['code']}"}).json()
    assert stored.get("total") == 1   # two entries sent, one record, no error: one of them is lost
