"""Read and vread through the gateway: the producer's own legal entity only, ETag, 304, clear refusals."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
import requests

from gateway.app import create_app
from gateway.auth import hash_api_key
from gateway.fhir_xml import FhirXml
from gateway.receipt import LEGAL_ENTITY_TAG_SYSTEM
from tests.conftest import ID_NAT_ST_SYSTEM as ID_NAT_STRUCT_SYSTEM
from tests.conftest import as_submitted, freshen
from tests.contract.test_fhir_xml import canonical_divs

OTHER_FACILITY = "1999999990"  # an idNatSt the test producer is not bound to


def store_in_hapi(hapi, bundle: dict, legal_entity: str | None) -> dict[str, str]:
    """Store the bundle straight in HAPI, tagged as the receipt stage tags it; {type: id}."""
    for entry in bundle["entry"]:
        if legal_entity:
            entry["resource"].setdefault("meta", {})["tag"] = [{"system": LEGAL_ENTITY_TAG_SYSTEM,
                                                                "code": legal_entity}]
    answer = requests.post(f"{hapi.base_url}/", data=json.dumps(bundle), timeout=120,
                           headers={"Content-Type": "application/fhir+json", "Prefer": "return=representation"})
    assert answer.status_code == 200, answer.text[:1000]
    return {entry["resource"]["resourceType"]: entry["resource"]["id"] for entry in answer.json()["entry"]}


def legal_entity_of(bundle: dict) -> str:
    """The idNatSt of the bundle's Organization: the tag code the receipt stage writes."""
    organisation = next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Organization")
    return next(i["value"] for i in organisation["identifier"] if i["system"] == ID_NAT_STRUCT_SYSTEM)


@pytest.fixture()
def stored(running_hapi, fresh_bundle) -> dict[str, str]:
    return store_in_hapi(running_hapi, fresh_bundle, legal_entity_of(fresh_bundle))


def test_each_type_is_read_with_etag_and_last_modified(gateway, stored):
    for resource_type, resource_id in stored.items():
        answer = gateway.get(f"/{resource_type}/{resource_id}")
        assert answer.status_code == 200, answer.get_data(as_text=True)
        assert answer.get_json()["id"] == resource_id
        assert answer.headers["ETag"] == 'W/"1"'
        assert answer.headers["Last-Modified"].endswith("GMT")


def test_if_none_match_gives_304_and_a_stale_tag_the_resource(gateway, stored):
    path = f"/Patient/{stored['Patient']}"
    assert gateway.get(path, headers={"If-None-Match": 'W/"1"'}).status_code == 304
    assert gateway.get(path, headers={"If-None-Match": '"1"'}).status_code == 304
    assert gateway.get(path, headers={"If-None-Match": 'W/"0"'}).status_code == 200


def test_vread(gateway, stored):
    path = f"/Encounter/{stored['Encounter']}/_history"
    assert gateway.get(f"{path}/1").get_json()["meta"]["versionId"] == "1"
    missing = gateway.get(f"{path}/7")
    assert missing.status_code == 404 and missing.get_json()["resourceType"] == "OperationOutcome"


def test_another_facility_and_untagged_resources_are_404_like_unknown_ids(gateway, running_hapi, ig_example_bundle):
    foreign = store_in_hapi(running_hapi, freshen(as_submitted(ig_example_bundle)), OTHER_FACILITY)
    unknown = gateway.get("/Patient/does-not-exist")
    assert unknown.status_code == 404
    for resource_type, resource_id in foreign.items():
        answer = gateway.get(f"/{resource_type}/{resource_id}")
        assert answer.status_code == 404
        assert "foreign" not in answer.get_data(as_text=True)
        assert answer.get_json()["issue"][0]["details"] == unknown.get_json()["issue"][0]["details"]
        assert gateway.get(f"/{resource_type}/{resource_id}/_history/1").status_code == 404


def test_untagged_resource_is_not_served(gateway, running_hapi, fresh_bundle):
    untagged = store_in_hapi(running_hapi, fresh_bundle, None)
    assert gateway.get(f"/Patient/{untagged['Patient']}").status_code == 404


def test_read_as_xml(gateway, stored, settings):
    answer = gateway.get(f"/Organization/{stored['Organization']}?_format=xml")
    assert answer.status_code == 200 and answer.mimetype == "application/fhir+xml"
    xml = FhirXml.from_package(settings.r4_core_package_path)
    as_json = gateway.get(f"/Organization/{stored['Organization']}").get_json()
    assert canonical_divs(xml.parse_resource(answer.get_data())) == canonical_divs(as_json)
    by_accept = gateway.get(f"/Organization/{stored['Organization']}", headers={"Accept": "application/fhir+xml"})
    assert by_accept.mimetype == "application/fhir+xml"


@pytest.mark.parametrize("method, path, status", [
    ("GET", "/Observation/1", 404),
    ("GET", "/Patient", 404),
    ("GET", "/Patient/1/_history", 404),
    ("GET", "/Patient/bad$id", 404),
    ("DELETE", "/Patient/1", 405),
    ("PUT", "/Patient/1", 405),
    ("POST", "/Patient/1", 405),
    ("PATCH", "/Encounter/1/_history/1", 405),
])
def test_other_types_paths_and_interactions_are_refused_with_an_operation_outcome(gateway, method, path, status):
    answer = gateway.open(path, method=method)
    assert answer.status_code == status
    assert answer.get_json()["resourceType"] == "OperationOutcome"


def test_reads_need_the_api_key(gateway_app, stored):
    answer = gateway_app.test_client().get(f"/Patient/{stored['Patient']}")
    assert answer.status_code == 401


def test_unacceptable_accept_on_a_read_is_406(gateway, stored):
    assert gateway.get(f"/Patient/{stored['Patient']}", headers={"Accept": "text/html"}).status_code == 406
    assert gateway.get(f"/Patient/{stored['Patient']}?_format=html").status_code == 406


def test_ids_returned_by_a_submission_are_readable_by_their_producer_only(gateway, hapi, settings, fresh_bundle):
    """Flux 1: the producer must know the new ids to use them later; nobody else reads them."""
    answer = gateway.post("/", data=json.dumps(fresh_bundle), content_type="application/fhir+json")
    assert answer.status_code == 201, answer.get_data(as_text=True)
    for entry in answer.get_json()["entry"]:
        resource = entry["resource"]
        read = gateway.get(f"/{resource['resourceType']}/{resource['id']}")
        assert read.status_code == 200 and read.get_json()["meta"]["versionId"] == resource["meta"]["versionId"]

    stranger = create_app(replace(settings, hapi_base_url=hapi.base_url, producers_json=json.dumps(
        {"producers": [{"id": "stranger", "api_key_sha256": [hash_api_key("k")], "finess": ["999999999"]}]})))
    for entry in answer.get_json()["entry"]:
        resource = entry["resource"]
        assert stranger.test_client().get(f"/{resource['resourceType']}/{resource['id']}",
                                          headers={"X-API-Key": "k"}).status_code == 404
