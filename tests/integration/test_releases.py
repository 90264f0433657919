"""Each TDDUI release the gateway describes, served whole: the gateway and a HAPI loaded with
that release (its own process, started on first use), its own example bundle, its own answer."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
import requests

from gateway.app import create_app
from tests.cases import IMPOSE_PROFILE, RELEASE_2_0_0, SUITE_RELEASE, release_example
from tests.conftest import TEST_API_KEY, freshen

FHIR_JSON = "application/fhir+json"
RELEASES = [SUITE_RELEASE, RELEASE_2_0_0]
# the HTTP status of a first delivery (something created), and of a resend or a change
SUCCESS_STATUSES = {SUITE_RELEASE: (201, 200), RELEASE_2_0_0: (200, 200)}


def version_of(release: str) -> str:
    return release.partition("#")[2]


def other(release: str) -> str:
    return next(r for r in RELEASES if r != release)


@pytest.fixture(scope="module", params=RELEASES, ids=version_of)
def release(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def release_hapi(hapi_servers, release):
    return hapi_servers.get("h2", release)


def client_of(app):
    client = app.test_client()
    client.environ_base["HTTP_X_API_KEY"] = TEST_API_KEY
    return client


@pytest.fixture(scope="module")
def release_app(settings, release, release_hapi):
    return create_app(replace(settings, implementation_guide=release, hapi_base_url=release_hapi.base_url))


@pytest.fixture()
def release_gateway(release_app, release_hapi):
    return client_of(release_app)


def post(gateway, bundle: dict):
    return gateway.post("/", data=json.dumps(bundle), content_type=FHIR_JSON)


def rule_of(issue: dict) -> str | None:
    return next(iter((issue.get("details") or {}).get("coding") or []), {}).get("code")


def errors(answer) -> list:
    return [(i.get("expression"), i.get("diagnostics")) for i in answer.get_json().get("issue", [])
            if i["severity"] in ("error", "fatal")]


def entry_statuses(answer) -> list[str]:
    return [entry["response"]["status"] for entry in answer.get_json()["entry"]]


def test_each_release_stores_its_own_example_and_answers_as_its_guide_says(release, release_gateway):
    created_status, otherwise_status = SUCCESS_STATUSES[release]
    bundle = freshen(release_example(release))

    first = post(release_gateway, bundle)
    assert first.status_code == created_status, errors(first)
    assert first.get_json()["type"] == "transaction-response"
    assert entry_statuses(first) == ["201 Created"] * len(bundle["entry"])

    resend = post(release_gateway, bundle)
    assert resend.status_code == otherwise_status
    assert entry_statuses(resend) == ["200 OK"] * len(bundle["entry"])
    assert [e["resource"]["meta"]["versionId"] for e in resend.get_json()["entry"]] == ["1"] * len(bundle["entry"])

    bundle["entry"][0]["resource"]["name"][0]["given"] = ["Changé"]
    changed = post(release_gateway, bundle)
    assert changed.status_code == otherwise_status
    assert entry_statuses(changed) == ["200 OK"] * len(bundle["entry"])
    assert [e["resource"]["meta"]["versionId"] for e in changed.get_json()["entry"]] == ["2", "1", "1"]


def test_a_version_claim_of_the_other_release_is_refused_naming_both(release, release_gateway, release_hapi):
    bundle = freshen(release_example(release))
    claimed = version_of(other(release))
    patient = bundle["entry"][0]["resource"]
    patient["meta"]["profile"] = [url + "|" + claimed for url in patient["meta"]["profile"]]
    before = release_hapi.count("Patient")
    answer = post(release_gateway, bundle)
    assert answer.status_code == 422
    refusal = next(i for i in answer.get_json()["issue"]
                   if rule_of(i) == "gateway-profile-version")
    assert f"version {claimed}" in refusal["diagnostics"] and release in refusal["diagnostics"]
    assert release_hapi.count("Patient") == before


def test_the_ballot_only_extension_is_refused_by_the_2_0_0_gateway_and_hapi_alike(settings, hapi_servers):
    """A ballot producer's impose-profile extension on the Patient fails 2.0.0's rules: the extension's
    context is a StructureDefinition, which only the ballot's TDDUIPatientINS slice allowed."""
    hapi = hapi_servers.get("h2", RELEASE_2_0_0)
    gateway = client_of(create_app(replace(settings, implementation_guide=RELEASE_2_0_0,
                                           hapi_base_url=hapi.base_url)))
    bundle = freshen(release_example(RELEASE_2_0_0))
    patient = bundle["entry"][0]["resource"]
    patient["extension"].append({"url": IMPOSE_PROFILE, "valueCanonical": patient["meta"]["profile"][0]})
    answer = post(gateway, bundle)
    assert answer.status_code == 422
    refused = [(i["expression"][0], rule_of(i)) for i in answer.get_json()["issue"] if i["severity"] == "error"]
    assert (f"Bundle.entry[0].resource.extension[{len(patient['extension']) - 1}]",
            "fhir-extension-context") in refused
    direct = requests.post(f"{hapi.base_url}/Patient/$validate", json=patient,
                           headers={"Content-Type": FHIR_JSON}, timeout=120)
    assert direct.status_code == 422, direct.text


def test_metadata_and_openapi_name_the_release_served(release, release_gateway):
    statement = release_gateway.get("/metadata", headers={"Accept": FHIR_JSON}).get_json()
    assert statement["instantiates"][0].endswith(f"CapabilityStatement/TDDUIConsommateur|{version_of(release)}")
    assert release in statement["implementation"]["description"]
    openapi = release_gateway.get("/openapi.json").get_json()
    assert release in openapi["info"]["description"]
    answers = openapi["paths"]["/"]["post"]["responses"]
    assert {str(status) for status in SUCCESS_STATUSES[release]} == {s for s in answers if s.startswith("2")}


def test_validate_judges_against_the_release_served(release, release_gateway):
    """$validate, like POST /, judges a bundle claiming the other release's versions against the one served."""
    own = release_gateway.post("/$validate", data=json.dumps(release_example(release)), content_type=FHIR_JSON)
    assert own.status_code == 200
    assert not [i for i in own.get_json()["issue"] if i["severity"] == "error"]
    bundle = release_example(other(release))
    bundle["meta"]["profile"] = [url + "|" + version_of(other(release)) for url in bundle["meta"]["profile"]]
    answer = release_gateway.post("/$validate", data=json.dumps(bundle), content_type=FHIR_JSON)
    assert answer.status_code == 200
    assert [(i["expression"][0], rule_of(i)) for i in answer.get_json()["issue"] if i["severity"] == "error"] == [
        ("Bundle.meta.profile[0]", "gateway-profile-version")]


def test_a_gateway_and_a_hapi_of_different_releases_are_not_ready(settings, hapi, hapi_servers):
    """/readyz names both releases when HAPI was loaded with another one than the gateway serves."""
    other_hapi = hapi_servers.get("h2", RELEASE_2_0_0)
    mismatched = create_app(replace(settings, implementation_guide=RELEASE_2_0_0, hapi_base_url=hapi.base_url))
    answer = mismatched.test_client().get("/readyz")
    assert answer.status_code == 503
    diagnostics = answer.get_json()["issue"][0]["diagnostics"]
    assert f"HAPI is loaded with {SUITE_RELEASE}, the gateway serves {RELEASE_2_0_0}" in diagnostics
    matched = create_app(replace(settings, implementation_guide=RELEASE_2_0_0, hapi_base_url=other_hapi.base_url))
    assert matched.test_client().get("/readyz").status_code == 200
