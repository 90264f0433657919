"""POST /$validate: the checks of POST / with nothing stored; the same issues as `tddui-gateway validate`."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from gateway.app import create_app
from gateway.cli import main
from tests.cases import CASES, JSON, load_examples, package_dir

FHIR_JSON = "application/fhir+json"


@pytest.fixture(scope="module")
def open_gateway(settings, hapi):
    """GATEWAY_AUTH=off: the CLI knows no producer, so neither does this gateway."""
    return create_app(replace(settings, auth_required=False, hapi_base_url=hapi.base_url)).test_client()


def test_every_case_gets_the_cli_issues(open_gateway, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("FHIR_PACKAGE_DIR", str(package_dir()))
    examples = load_examples()
    cases = [case for case in CASES if case.content_type == JSON]
    files = []
    for case in cases:
        files.append(tmp_path / f"{case.id}.json")
        files[-1].write_bytes(case.body(examples))
    capsys.readouterr()
    main(["validate", "--format", "json", *map(str, files)])
    from_cli = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(from_cli) == len(cases)
    for case, expected in zip(cases, from_cli):
        answer = open_gateway.post("/$validate", data=case.body(examples), content_type=FHIR_JSON)
        assert answer.get_json() == expected, case.id
        not_a_bundle = case.status == 400 and not case.accepted
        assert answer.status_code == (400 if not_a_bundle else 413 if case.status == 413 else 200), case.id
    print(f"\n{len(cases)} cases: $validate and the CLI agree")


def test_valid_bundle_gets_one_information_issue_and_nothing_is_stored(gateway, hapi, fresh_bundle):
    before = hapi.count("Patient")
    answer = gateway.post("/Bundle/$validate", data=json.dumps(fresh_bundle), content_type=FHIR_JSON)
    assert answer.status_code == 200
    issues = answer.get_json()["issue"]
    assert {issue["severity"] for issue in issues[:-1]} <= {"warning"}  # e.g. a meta.profile the gateway added
    assert issues[-1]["severity"] == "information" and issues[-1]["details"]["coding"][0]["code"] == "gateway-valid"
    assert hapi.count("Patient") == before


def test_invalid_bundle_is_200_listing_every_issue(gateway, fresh_bundle):
    del fresh_bundle["entry"][2]["resource"]["status"]
    fresh_bundle["entry"][0]["resource"]["gender"] = 7
    answer = gateway.post("/$validate", data=json.dumps(fresh_bundle), content_type=FHIR_JSON)
    assert answer.status_code == 200
    errors = [issue for issue in answer.get_json()["issue"] if issue["severity"] == "error"]
    assert len(errors) >= 2


def test_parameters_carrying_the_bundle_and_xml(gateway, fresh_bundle, settings):
    from gateway.fhir_xml import FhirXml
    parameters = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": fresh_bundle}]}
    answer = gateway.post("/$validate", data=json.dumps(parameters), content_type=FHIR_JSON)
    assert answer.status_code == 200 and answer.get_json()["issue"][-1]["severity"] == "information"
    xml = FhirXml.from_package(settings.r4_core_package_path)
    as_xml = gateway.post("/$validate", data=xml.to_xml(parameters), content_type="application/fhir+xml")
    assert as_xml.status_code == 200 and as_xml.mimetype == "application/fhir+xml"
    assert xml.parse_resource(as_xml.get_data()) == answer.get_json()


def test_other_legal_entity_is_an_issue_not_a_403(gateway, fresh_bundle):
    organisation = fresh_bundle["entry"][1]["resource"]
    for identifier in organisation["identifier"]:
        identifier["value"] = "1999999990"
    answer = gateway.post("/$validate", data=json.dumps(fresh_bundle), content_type=FHIR_JSON)
    assert answer.status_code == 200
    assert "gateway-finess-scope" in [issue.get("details", {}).get("coding", [{}])[0].get("code")
                                      for issue in answer.get_json()["issue"]]


@pytest.mark.parametrize("body", [
    {"resourceType": "Patient"},
    {"resourceType": "Parameters", "parameter": [{"name": "mode", "valueCode": "create"}]},
    {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": {"resourceType": "Patient"}}]},
])
def test_not_a_bundle_nor_parameters_with_one_is_400(gateway, body):
    answer = gateway.post("/$validate", data=json.dumps(body), content_type=FHIR_JSON)
    assert answer.status_code == 400 and answer.get_json()["resourceType"] == "OperationOutcome"


def test_validate_needs_the_api_key(gateway_app, fresh_bundle):
    answer = gateway_app.test_client().post("/$validate", data=json.dumps(fresh_bundle), content_type=FHIR_JSON)
    assert answer.status_code == 401


def test_reads_are_unrestricted_with_auth_off(open_gateway, hapi, fresh_bundle):
    import requests
    stored = requests.post(f"{hapi.base_url}/", data=json.dumps(fresh_bundle), timeout=120,
                           headers={"Content-Type": FHIR_JSON, "Prefer": "return=representation"}).json()
    patient = next(e["resource"] for e in stored["entry"] if e["resource"]["resourceType"] == "Patient")
    assert open_gateway.get(f"/Patient/{patient['id']}").status_code == 200  # no tag, no key
