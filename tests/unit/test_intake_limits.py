"""Input limits and media types: each refusal has its status and an OperationOutcome.

No HAPI is needed: every request here is refused before forwarding (HAPI's
URL points at a closed port, so a request that slipped through would get 503).
"""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from gateway.app import create_app
from tests.conftest import TEST_API_KEY


@pytest.fixture(scope="module")
def client(settings):
    limited = replace(settings, hapi_base_url="http://127.0.0.1:9/fhir",
                      max_body_bytes=50_000, max_entries=3, max_json_depth=12)
    client = create_app(limited).test_client()
    client.environ_base["HTTP_X_API_KEY"] = TEST_API_KEY  # past 401: the limits come after who
    return client


def refusal(response, status: int, rule: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    outcome = response.get_json()
    assert outcome["resourceType"] == "OperationOutcome"
    issue = outcome["issue"][0]
    assert issue["details"]["coding"][0]["code"] == rule
    return issue


def test_wrong_content_type_is_415(client):
    issue = refusal(client.post("/", data="<Bundle/>", content_type="text/plain"),
                    415, "gateway-content-type")
    assert issue["code"] == "not-supported"


def test_missing_content_type_is_415(client):
    refusal(client.post("/", data=b"{}"), 415, "gateway-content-type")


def test_unsupported_accept_is_406(client):
    refusal(client.post("/", data=b"{}", content_type="application/fhir+json",
                        headers={"Accept": "text/html"}), 406, "gateway-accept")


def test_declared_oversized_body_is_413(client):
    body = b'{"resourceType":"Bundle","x":"' + b"a" * 60_000 + b'"}'
    issue = refusal(client.post("/", data=body, content_type="application/fhir+json"),
                    413, "gateway-body-size")
    assert issue["code"] == "too-long"


def test_undeclared_oversized_body_is_413_without_reading_it_all(client):
    body = b'{"resourceType":"Bundle","x":"' + b"a" * 60_000 + b'"}'

    class Stream:
        read_sizes = []

        def read(self, size=-1):
            self.read_sizes.append(size)
            return body[:size]

    from gateway.intake import Limits, Rejected, read_body
    with pytest.raises(Rejected) as refused:
        read_body(Stream(), None, Limits(max_body_bytes=50_000))
    assert refused.value.status == 413
    assert Stream.read_sizes == [50_001]


def test_too_many_entries_is_413(client):
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [{}] * 4}
    refusal(client.post("/", data=json.dumps(bundle), content_type="application/fhir+json"),
            413, "gateway-entry-count")


@pytest.mark.parametrize("depth", [13, 5000])
def test_deep_nesting_is_400(client, depth):
    body = '{"resourceType":"Bundle","x":' + "[" * depth + "]" * depth + "}"
    refusal(client.post("/", data=body, content_type="application/fhir+json"), 400, "gateway-json-depth")


@pytest.mark.parametrize("body, rule", [
    (b"{not json", "gateway-json"),
    (b"\xff\xfe", "gateway-json"),
    (b"[1, 2]", "gateway-fhir-resource"),
    (b'{"a": 1}', "gateway-fhir-resource"),
    (b'{"resourceType": "Patient"}', "gateway-bundle"),
    ('{"resourceType": "Bundle"}'.encode("utf-16"), "gateway-json"),
    (b'{"resourceType": "\\ud800Bundle"}', "gateway-json"),
    (b'{"resourceType": "Patient", "text": "\\ud83d\\ude00"}', "gateway-bundle"),
    (b'{"resourceType": "Bundle", "total": NaN}', "gateway-json"),
    (b'{"resourceType": "Bundle", "total": -Infinity}', "gateway-json"),
    (b'{"resourceType": "Bundle", "total": 1e999}', "gateway-json"),
    (b'{"resourceType": "Patient", "total": 1.5e300}', "gateway-bundle"),
])
def test_not_a_bundle_is_400(client, body, rule):
    refusal(client.post("/", data=body, content_type="application/fhir+json"), 400, rule)


def test_unpaired_surrogate_escape_in_a_valid_bundle_is_400_not_500(client, ig_example_bundle):
    """Found by fuzzing: such a string cannot be encoded as UTF-8 for HAPI nor for an OperationOutcome."""
    ig_example_bundle["entry"][0]["resource"]["name"][0]["family"] = "\ud800"
    body = json.dumps(ig_example_bundle).encode()
    assert b"\\ud800" in body
    issue = refusal(client.post("/", data=body, content_type="application/fhir+json"), 400, "gateway-json")
    assert "\\uD800-\\uDFFF" in issue["diagnostics"]


def test_diagnostics_follow_accept_language(client):
    french = client.post("/", data=b"{", content_type="application/fhir+json")
    english = client.post("/", data=b"{", content_type="application/fhir+json",
                          headers={"Accept-Language": "en-GB,en;q=0.9,fr;q=0.5"})
    assert "n'est pas un JSON valide" in french.get_json()["issue"][0]["diagnostics"]
    assert "is not valid JSON" in english.get_json()["issue"][0]["diagnostics"]


def test_unknown_route_and_method_answer_with_operation_outcomes(client):
    refusal(client.get("/Patient"), 404, "http-404")
    refusal(client.put("/", data=b"{}"), 405, "http-405")
