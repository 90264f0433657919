"""Each bundle of tests/hapi_refusals.py against the real HAPI (request validation on) and through the
gateway: HAPI refuses it, and the gateway refuses it first, 4xx with its own rule id, never a 500."""
from __future__ import annotations

import json

import pytest
import requests

from tests.conftest import freshen
from tests.hapi_refusals import REFUSALS, refused_bundle

FHIR_JSON = "application/fhir+json"


@pytest.mark.parametrize("refusal", REFUSALS, ids=lambda refusal: refusal.name)
def test_hapi_refuses_it_and_the_gateway_first(gateway, running_hapi, refusal):
    bundle = freshen(refused_bundle(refusal))
    direct = requests.post(f"{running_hapi.base_url}/", data=json.dumps(bundle), timeout=120,
                           headers={"Content-Type": FHIR_JSON, "Prefer": "return=minimal"})
    assert 400 <= direct.status_code < 500, (direct.status_code, direct.text[:600])
    before = running_hapi.count("Patient")
    answer = gateway.post("/", data=json.dumps(bundle), content_type=FHIR_JSON)
    assert 400 <= answer.status_code < 500, answer.get_data(as_text=True)[:1000]
    issues = answer.get_json()["issue"]
    assert any(issue.get("details", {}).get("coding", [{}])[0].get("code") == refusal.rule
               and issue.get("expression") == [refusal.expression] for issue in issues), issues
    assert running_hapi.count("Patient") == before
