"""Producer authentication (401) and FINESS scope (403), before anything is forwarded.

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
SUBJECT = "CN=dui.acme.example, O=ACME, C=FR"
PROXY = "10.0.0.5"


@pytest.fixture(scope="module")
def client(settings):
    producers = {"producers": [
        {"id": "acme", "api_key_sha256": [hash_api_key(KEY)], "certificate_subjects": [SUBJECT],
         "finess": ["480787529"]},
        {"id": "other", "api_key_sha256": [hash_api_key(OTHER_KEY)], "finess": ["1999999999"]},
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


def test_bundle_without_organisation_is_403(client, ig_example_bundle):
    bundle = copy.deepcopy(ig_example_bundle)
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Organization"]
    assert send(client, bundle, {"X-API-Key": KEY}).status_code == 403


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


def test_id_nat_st_with_another_prefix_is_not_taken_for_a_finess():
    from gateway.auth import FINESS_SYSTEM, ID_NAT_STRUCT_SYSTEM, Producer
    producer = Producer("acme", frozenset({"480787529"}))
    assert producer.may_submit_for(ID_NAT_STRUCT_SYSTEM, "1480787529")
    assert producer.may_submit_for(FINESS_SYSTEM, "480787529")
    assert not producer.may_submit_for(ID_NAT_STRUCT_SYSTEM, "480787529")  # prefix 4: an RPPS rank
    assert not producer.may_submit_for(FINESS_SYSTEM, "1480787529")
