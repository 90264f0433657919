"""What HAPI refuses, the engine refuses first: its own rule id, at the element (tests/hapi_refusals.py)."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from gateway.app import create_app
from tests.cases import v1
from tests.conftest import TEST_API_KEY
from tests.hapi_refusals import REFUSALS, refused_bundle, resource


@pytest.mark.parametrize("refusal", REFUSALS, ids=lambda refusal: refusal.name)
def test_the_engine_refuses_with_its_own_rule_at_the_element(engine, refusal):
    verdict = engine.judge(refused_bundle(refusal))
    blocking = [(issue.rule, issue.expression) for issue in verdict.issues if issue.blocking]
    assert (refusal.rule, refusal.expression) in blocking, blocking
    assert not [issue for issue in verdict.issues if issue.code == "exception"]


@pytest.mark.parametrize("start, end", [("2023-04-14", "2023-04-15T00:30:00+01:00"), ("2023-04", "2023-05-02"),
                                        ("2023-04-14T08:00:00Z", "2023-04-14T12:00:00+01:00")])
def test_periods_that_can_be_ordered_are_accepted(engine, examples, start, end):
    bundle = v1(examples)
    resource(bundle, "Encounter")["period"] = {"start": start, "end": end}
    assert engine.judge(bundle).accepted


@pytest.fixture(scope="module")
def offline_gateway(settings):
    """The gateway with HAPI on a closed port: a bundle that got past the checks would be a 503."""
    client = create_app(replace(settings, hapi_base_url="http://127.0.0.1:9/fhir")).test_client()
    client.environ_base["HTTP_X_API_KEY"] = TEST_API_KEY
    return client


@pytest.mark.parametrize("path", ["/", "/$validate"])
def test_an_entry_without_resource_is_a_4xx_naming_the_entry_not_a_500(offline_gateway, path):
    """It used to pass the checks and crash the legal-entity stage (AttributeError, 500)."""
    bundle = refused_bundle(REFUSALS[0])
    answer = offline_gateway.post(path, data=json.dumps(bundle), content_type="application/fhir+json",
                                  headers={"Accept-Language": "en"})
    assert answer.status_code == (422 if path == "/" else 200), answer.get_data(as_text=True)[:800]
    issue = next(i for i in answer.get_json()["issue"] if i["details"]["coding"][0]["code"] == "fhir-entry-resource")
    assert issue["expression"] == ["Bundle.entry[2]"]
    assert issue["diagnostics"] == "A POST transaction entry must carry the resource to store (no resource)."
