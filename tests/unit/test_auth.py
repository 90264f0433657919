"""Producer authentication (401) and legal-entity scope (422, 403), before anything is forwarded.

HAPI's URL points at a closed port: a request that passes both checks is
forwarded and gets 503, which is how these tests see it went through.
"""
from __future__ import annotations

import copy
import json
from dataclasses import replace

import pytest

from gateway.app import create_app
from gateway.auth import hash_api_key
from gateway.config import ConfigurationError

KEY = "key-of-the-acme-dui"
OTHER_KEY = "key-of-another-dui"
GROUP_KEY = "key-of-a-dui-serving-two-legal-entities"
SUBJECT = "CN=dui.acme.example, O=ACME, C=FR"
PROXY = "10.0.0.5"


@pytest.fixture(scope="module")
def client(settings):
    producers = {"producers": [
        {"id": "acme", "api_key_sha256": [hash_api_key(KEY)], "certificate_subjects": [SUBJECT],
         "finess": ["480787529"]},
        {"id": "other", "api_key_sha256": [hash_api_key(OTHER_KEY)], "finess": ["1999999999"]},
        {"id": "group", "api_key_sha256": [hash_api_key(GROUP_KEY)], "finess": ["480787529", "480787530"]},
    ]}
    scoped = replace(settings, hapi_base_url="http://127.0.0.1:9/fhir", producers_json=json.dumps(producers),
                     trusted_proxies=(PROXY + "/32",))
    return create_app(scoped).test_client()


def send(client, bundle, headers=None, remote_addr="127.0.0.1"):
    return client.post("/", data=json.dumps(bundle), content_type="application/fhir+json",
                       headers=headers or {}, environ_overrides={"REMOTE_ADDR": remote_addr})


def rule_of(response) -> str:
    return response.get_json()["issue"][0]["details"]["coding"][0]["code"]


def test_no_credentials_is_401(client, ig_example_bundle):
    response = send(client, ig_example_bundle)
    assert response.status_code == 401 and rule_of(response) == "gateway-authentication"
    assert response.get_json()["issue"][0]["code"] == "login"


def test_unknown_api_key_is_401(client, ig_example_bundle):
    assert send(client, ig_example_bundle, {"X-API-Key": "guessed"}).status_code == 401


def test_known_api_key_in_scope_is_forwarded(client, ig_example_bundle):
    assert send(client, ig_example_bundle, {"X-API-Key": KEY}).status_code == 503


def test_producer_outside_its_finess_scope_is_403(client, ig_example_bundle):
    response = send(client, ig_example_bundle, {"X-API-Key": OTHER_KEY})
    assert response.status_code == 403 and rule_of(response) == "gateway-finess-scope"
    assert response.get_json()["issue"][0]["expression"] == ["Bundle.entry[1].resource.identifier"]


def without_organisation(bundle):
    """A patient-only bundle: valid TDDUI (every TDDUIBundle slice is 0..*), naming no legal entity."""
    bundle = copy.deepcopy(bundle)
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    return bundle


def test_single_entity_producer_may_leave_the_organisation_out(client, ig_example_bundle):
    assert send(client, without_organisation(ig_example_bundle), {"X-API-Key": KEY}).status_code == 503


def test_multi_entity_producer_must_name_its_legal_entity(client, ig_example_bundle):
    response = send(client, without_organisation(ig_example_bundle), {"X-API-Key": GROUP_KEY})
    assert response.status_code == 422 and rule_of(response) == "BR-LEGAL-ENTITY"
    assert send(client, ig_example_bundle, {"X-API-Key": GROUP_KEY}).status_code == 503


def test_every_legal_entity_identifier_of_an_organisation_must_be_the_producers(client, ig_example_bundle):
    """A foreign idNatSt with the producer's own FINESS beside it is refused, not matched on the FINESS."""
    bundle = copy.deepcopy(ig_example_bundle)
    organisation = bundle["entry"][1]["resource"]
    organisation["identifier"][0]["value"] = "1999999999"
    organisation["identifier"].append({"system": "https://finess.esante.gouv.fr", "value": "480787529"})
    response = send(client, bundle, {"X-API-Key": KEY})
    assert response.status_code == 403 and rule_of(response) == "gateway-finess-scope"
    assert response.get_json()["issue"][0]["expression"] == ["Bundle.entry[1].resource.identifier"]


def test_two_legal_entities_in_one_bundle_are_refused(client, ig_example_bundle):
    bundle = copy.deepcopy(ig_example_bundle)
    second = copy.deepcopy(bundle["entry"][1])
    second["fullUrl"] += "-2"
    second["resource"]["id"] += "-2"
    second["resource"]["identifier"][0]["value"] = "1480787530"
    bundle["entry"].append(second)
    response = send(client, bundle, {"X-API-Key": GROUP_KEY})
    assert response.status_code == 422 and rule_of(response) == "BR-ONE-LEGAL-ENTITY"


@pytest.mark.parametrize("body, status, rule", [
    ({"resourceType": "Bundle", "type": "transaction", "entry": []}, 422, "BR-EMPTY"),
    ({"resourceType": "Bundle", "type": "transaction"}, 422, "BR-EMPTY"),
])
def test_content_errors_come_before_scope_errors(client, body, status, rule):
    response = send(client, body, {"X-API-Key": OTHER_KEY})
    assert response.status_code == status and rule in rules_of(response)


@pytest.mark.parametrize("body", [
    {"resourceType": "Bundle", "entry": []},
    {"resourceType": "Bundle", "type": "transaction", "entry": {"resource": {"resourceType": "Patient"}}},
])
def test_malformed_bundles_are_400_or_422_never_403(client, body):
    assert send(client, body, {"X-API-Key": OTHER_KEY}).status_code in (400, 422)


def rules_of(response) -> list[str]:
    return [issue["details"]["coding"][0]["code"] for issue in response.get_json()["issue"] if "details" in issue]


def test_certificate_subject_from_trusted_proxy_is_accepted(client, ig_example_bundle):
    spaced_differently = "cn=dui.acme.example,O=ACME,  C=FR"
    response = send(client, ig_example_bundle, {"X-SSL-Client-S-DN": spaced_differently}, remote_addr=PROXY)
    assert response.status_code == 503


def test_certificate_header_from_anyone_else_is_ignored(client, ig_example_bundle):
    response = send(client, ig_example_bundle, {"X-SSL-Client-S-DN": SUBJECT}, remote_addr="10.0.0.6")
    assert response.status_code == 401


def test_public_endpoints_need_no_credentials(client):
    assert client.get("/metadata").status_code == 200
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503  # public, and honest: HAPI is unreachable


def test_required_auth_without_producers_stops_start_up(settings):
    with pytest.raises(ConfigurationError, match="no producer is configured"):
        create_app(replace(settings, producers_json=None, producers_file=None))


def test_id_nat_st_with_another_prefix_is_not_taken_for_a_finess(packages, settings):
    from gateway.auth import Producer, belongs_to
    from gateway.descriptor import load_descriptor
    patterns = load_descriptor(settings.implementation_guide, packages).legal_entity
    producer = Producer("acme", frozenset({"480787529"}))
    id_nat_st, finess = patterns.id_nat_st.system, patterns.finess.system
    assert belongs_to(producer, id_nat_st, "1480787529", patterns)
    assert belongs_to(producer, finess, "480787529", patterns)
    assert not belongs_to(producer, id_nat_st, "480787529", patterns)  # prefix 4: an RPPS rank
    assert not belongs_to(producer, finess, "1480787529", patterns)
