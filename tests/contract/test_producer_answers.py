"""What a producer gets back, against the real HAPI: ``Prefer: return=…`` and no internal address anywhere.

FHIR http.html, "Managing Return Content": whatever the preference, the
transaction answer holds one entry per entry sent with ``status``,
``location`` and ``etag``. HAPI's base (``http://127.0.0.1:<port>/fhir``) must
show in no answer, body or header, JSON or XML: it becomes the gateway's
public base (configured, else the address the request was sent to, as a
trusted proxy forwards it).
"""
from __future__ import annotations

import copy
import json
from dataclasses import replace
from urllib.parse import urlsplit

import pytest

from gateway.app import create_app
from tests.conftest import TEST_API_KEY, freshen

FHIR_JSON, FHIR_XML = "application/fhir+json", "application/fhir+xml"
PUBLIC_BASE = "https://tddui.example.fr"


def post(client, bundle: dict, **headers):
    return client.post("/", data=json.dumps(bundle), content_type=FHIR_JSON, headers=headers)


def entry_responses(answer) -> list[dict]:
    return [entry["response"] for entry in answer.get_json()["entry"]]


def assert_one_entry_per_entry_sent(answer, bundle: dict) -> list[dict]:
    entries = answer.get_json()["entry"]
    assert len(entries) == len(bundle["entry"])
    for entry, sent in zip(entries, bundle["entry"]):
        response = entry["response"]
        assert response["status"].split()[0] in ("200", "201")
        assert response["location"].startswith(sent["resource"]["resourceType"] + "/")
        assert "/_history/" in response["location"]
        assert response["etag"]
    return entries


# ------------------------------------------------------------------ Prefer
def test_without_prefer_each_entry_carries_the_stored_resource(gateway, fresh_bundle):
    answer = post(gateway, fresh_bundle)
    assert answer.status_code == 201, answer.get_data(as_text=True)[:2000]
    assert answer.headers["Preference-Applied"] == "return=representation"
    for entry in assert_one_entry_per_entry_sent(answer, fresh_bundle):
        assert entry["resource"]["meta"]["versionId"] == "1"
        assert entry["response"]["location"].startswith(f"{entry['resource']['resourceType']}/{entry['resource']['id']}")
        assert "outcome" not in entry["response"]  # HAPI's English one, with its timings, is not passed on


@pytest.mark.parametrize("prefer", ["return=minimal", 'return="minimal"', "RETURN=Minimal, handling=strict"])
def test_return_minimal_gives_only_each_entrys_response(gateway, fresh_bundle, prefer):
    answer = post(gateway, fresh_bundle, Prefer=prefer)
    assert answer.status_code == 201, answer.get_data(as_text=True)[:2000]
    assert answer.headers["Preference-Applied"] == "return=minimal"
    for entry in assert_one_entry_per_entry_sent(answer, fresh_bundle):
        assert set(entry) == {"response"}
        assert set(entry["response"]) <= {"status", "location", "etag", "lastModified"}


def test_return_operation_outcome_says_what_became_of_each_entry(gateway, fresh_bundle):
    first = post(gateway, fresh_bundle, Prefer="return=OperationOutcome")
    assert first.status_code == 201, first.get_data(as_text=True)[:2000]
    assert first.headers["Preference-Applied"] == "return=OperationOutcome"
    for entry in assert_one_entry_per_entry_sent(first, fresh_bundle):
        assert "resource" not in entry
        issue, = entry["response"]["outcome"]["issue"]
        assert issue["details"]["coding"][0]["code"] == "gateway-entry-created"
        assert issue["diagnostics"] == f"Ressource créée : {entry['response']['location']}."
    again = post(gateway, fresh_bundle, Prefer="return=OperationOutcome", **{"Accept-Language": "en"})
    assert again.status_code == 200, again.get_data(as_text=True)[:2000]
    for response in entry_responses(again):
        issue, = response["outcome"]["issue"]
        assert issue["details"]["coding"][0]["code"] == "gateway-entry-unchanged"
        assert issue["diagnostics"] == f"Resource already stored, unchanged: {response['location']}."


def test_a_changed_resend_is_a_new_version_in_the_outcome(gateway, fresh_bundle):
    assert post(gateway, fresh_bundle, Prefer="return=minimal").status_code == 201
    changed = copy.deepcopy(fresh_bundle)
    patient = next(e["resource"] for e in changed["entry"] if e["resource"]["resourceType"] == "Patient")
    patient["name"][0]["given"] = ["Jeanne"]
    answer = post(gateway, changed, Prefer="return=OperationOutcome")
    assert answer.status_code == 200, answer.get_data(as_text=True)[:2000]
    codes = {response["location"].split("/")[0]: response["outcome"]["issue"][0]["details"]["coding"][0]["code"]
             for response in entry_responses(answer)}
    assert codes["Patient"] == "gateway-entry-updated"
    assert codes["Organization"] == "gateway-entry-unchanged"


def test_an_unknown_return_preference_is_representation(gateway, fresh_bundle):
    answer = post(gateway, fresh_bundle, Prefer="return=everything")
    assert answer.status_code == 201
    assert all("resource" in entry for entry in answer.get_json()["entry"])


def test_return_minimal_in_xml(gateway, fresh_bundle):
    answer = post(gateway, fresh_bundle, Prefer="return=minimal", Accept=FHIR_XML)
    assert answer.status_code == 201
    assert answer.mimetype == FHIR_XML
    text = answer.get_data(as_text=True)
    assert text.count("<response>") == len(fresh_bundle["entry"]) and "<resource>" not in text


# ------------------------------------------------------------------ no internal address
def answers_of_every_kind(client, bundle: dict) -> list[tuple[str, object]]:
    """One answer of each kind a producer can get, JSON and XML."""
    answers = []
    for prefer in ("return=representation", "return=minimal", "return=OperationOutcome"):
        for accept in (FHIR_JSON, FHIR_XML):
            answers.append((f"transaction {prefer} {accept}", post(client, freshen(copy.deepcopy(bundle)),
                                                                   Prefer=prefer, Accept=accept)))
    stored = post(client, freshen(copy.deepcopy(bundle))).get_json()["entry"][0]["resource"]
    path = f"/{stored['resourceType']}/{stored['id']}"
    refused = copy.deepcopy(bundle)
    refused["entry"][0]["resource"]["gender"] = "M"
    for accept in (FHIR_JSON, FHIR_XML):
        answers += [
            (f"read {accept}", client.get(path, headers={"Accept": accept})),
            (f"vread {accept}", client.get(f"{path}/_history/1", headers={"Accept": accept})),
            (f"not found {accept}", client.get("/Patient/does-not-exist", headers={"Accept": accept})),
            (f"$validate {accept}", client.post("/$validate", data=json.dumps(bundle), content_type=FHIR_JSON,
                                                headers={"Accept": accept})),
            (f"422 {accept}", post(client, refused, Accept=accept)),
            (f"400 {accept}", client.post("/", data=b"{", content_type=FHIR_JSON, headers={"Accept": accept})),
            (f"metadata {accept}", client.get("/metadata", headers={"Accept": accept})),
            (f"405 {accept}", client.delete(path, headers={"Accept": accept})),
        ]
    answers.append(("304", client.get(path, headers={"If-None-Match": 'W/"1"'})))
    answers.append(("openapi", client.get("/openapi.json")))
    return answers


def assert_no_internal_address(answers, hapi) -> None:
    internal = urlsplit(hapi.base_url).netloc
    leaks = [name for name, answer in answers
             if internal in answer.get_data(as_text=True)
             or any(internal in value for _, value in answer.headers.items())]
    assert not leaks, f"HAPI's address ({internal}) shows in: {leaks}"


def self_link(answer) -> str:
    return next(link["url"] for link in answer.get_json()["link"] if link["relation"] == "self")


def test_no_answer_shows_hapis_address(gateway, running_hapi, fresh_bundle):
    answers = answers_of_every_kind(gateway, fresh_bundle)
    statuses = {name: answer.status_code for name, answer in answers}
    assert all(status == 201 for name, status in statuses.items() if name.startswith("transaction")), statuses
    assert statuses["422 application/fhir+xml"] == 422 and statuses["304"] == 304, statuses
    assert_no_internal_address(answers, running_hapi)
    transaction = dict(answers)["transaction return=representation application/fhir+json"]
    assert self_link(transaction) == "http://localhost"  # the address the request was sent to


@pytest.fixture(scope="module")
def public_gateway(settings, hapi):
    """GATEWAY_PUBLIC_BASE_URL set."""
    client = create_app(replace(settings, hapi_base_url=hapi.base_url, public_base_url=PUBLIC_BASE)).test_client()
    client.environ_base["HTTP_X_API_KEY"] = TEST_API_KEY
    return client


def test_the_configured_public_base_replaces_hapis(public_gateway, running_hapi, fresh_bundle):
    answers = answers_of_every_kind(public_gateway, fresh_bundle)
    assert_no_internal_address(answers, running_hapi)
    transaction = dict(answers)["transaction return=minimal application/fhir+json"]
    assert self_link(transaction) == PUBLIC_BASE
    xml = dict(answers)["transaction return=minimal application/fhir+xml"].get_data(as_text=True)
    assert f'<url value="{PUBLIC_BASE}"/>' in xml


@pytest.fixture(scope="module")
def behind_proxy(settings, hapi):
    """No public base configured; the proxy at 127.0.0.1 is trusted."""
    client = create_app(replace(settings, hapi_base_url=hapi.base_url,
                                trusted_proxies=("127.0.0.1/32",))).test_client()
    client.environ_base["HTTP_X_API_KEY"] = TEST_API_KEY
    return client


FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "dui.example.fr:8443"}


def test_a_trusted_proxys_forwarded_host_is_the_public_base(behind_proxy, running_hapi, fresh_bundle):
    answer = post(behind_proxy, fresh_bundle, Prefer="return=minimal", **FORWARDED)
    assert answer.status_code == 201
    assert self_link(answer) == "https://dui.example.fr:8443"


def test_forwarded_headers_from_anyone_else_are_ignored(behind_proxy, running_hapi, fresh_bundle):
    answer = behind_proxy.post("/", data=json.dumps(fresh_bundle), content_type=FHIR_JSON,
                               headers={"Prefer": "return=minimal", **FORWARDED},
                               environ_overrides={"REMOTE_ADDR": "10.20.30.40"})
    assert answer.status_code == 201
    assert self_link(answer) == "http://localhost"
