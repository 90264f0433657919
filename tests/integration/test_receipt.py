"""The receipt against the real HAPI, on H2 and PostgreSQL: what is stored is what was sent.

Each entry is created, left unchanged, or stored as a new version of the same
resource, matched on its business identifiers within its own legal entity.
"""
from __future__ import annotations

import copy
import json
import threading

import pytest
import requests

from gateway.receipt import LEGAL_ENTITY_TAG_SYSTEM
from tests.cases import PI_TYPE, TDDUI, load_examples
from tests.conftest import BACKENDS, TEST_API_KEY, fresh_finess, move_to_legal_entity

pytestmark = pytest.mark.parametrize("backend", BACKENDS, indirect=True)
STORED_TYPES = ("Patient", "Organization", "Encounter", "Provenance")
PI_SYSTEM = "http://identifiant-ipp.com"


def post(client, bundle: dict):
    return client.post("/", data=json.dumps(bundle), content_type="application/fhir+json")


def entries(response) -> list[dict]:
    return response.get_json()["entry"]


def resource_of(bundle: dict, kind: str) -> dict:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind)


def identifier_query(resource: dict) -> str:
    identifier = resource["identifier"][0]
    return f"{identifier['system']}|{identifier['value']}"


def stored(hapi, kind: str, **params) -> list[dict]:
    answer = requests.get(f"{hapi.base_url}/{kind}", params=params, headers={"Cache-Control": "no-cache"},
                          timeout=60)
    answer.raise_for_status()
    return [entry["resource"] for entry in answer.json().get("entry") or []]


def counts(hapi) -> dict:
    return {kind: hapi.count(kind) for kind in STORED_TYPES}


def next_export(bundle: dict, phone: str, stay_end: str) -> dict:
    """The facility's next export of the same patient and stay: a new phone, the stay's end."""
    changed = copy.deepcopy(bundle)
    resource_of(changed, "Patient")["telecom"] = [{"system": "phone", "value": phone}]
    resource_of(changed, "Encounter")["period"]["end"] = stay_end
    return changed


def test_first_export_creates_and_answers_one_entry_per_entry_sent(gateway, hapi, fresh_bundle):
    response = post(gateway, fresh_bundle)

    assert response.status_code == 201, response.get_data(as_text=True)
    answer = entries(response)
    assert len(answer) == len(fresh_bundle["entry"])
    for sent, got in zip(fresh_bundle["entry"], answer):
        resource = got["resource"]
        assert resource["resourceType"] == sent["resource"]["resourceType"]
        assert got["response"]["status"] == "201 Created"
        assert got["response"]["location"] == f"{resource['resourceType']}/{resource['id']}/_history/1"
        assert got["response"]["etag"] in ('W/"1"', "1")
        assert resource["meta"]["versionId"] == "1" and resource["meta"]["lastUpdated"]
        assert resource["id"] != sent["resource"]["id"], "a producer id must never name a stored record"


def test_identical_resend_stores_nothing_new(gateway, hapi, fresh_bundle):
    first = post(gateway, fresh_bundle)
    assert first.status_code == 201
    before = counts(hapi)

    again = post(gateway, fresh_bundle)

    assert again.status_code == 200, again.get_data(as_text=True)
    assert [e["response"]["status"] for e in entries(again)] == ["200 OK"] * 3
    assert [(e["resource"]["id"], e["resource"]["meta"]["versionId"]) for e in entries(again)] == \
        [(e["resource"]["id"], e["resource"]["meta"]["versionId"]) for e in entries(first)]
    assert counts(hapi) == before


def test_changed_export_is_a_new_version_with_history_and_provenance(gateway, hapi, fresh_bundle):
    first = entries(post(gateway, fresh_bundle))
    before = counts(hapi)

    response = post(gateway, next_export(fresh_bundle, "0601020304", "2023-05-01"))

    assert response.status_code == 200, response.get_data(as_text=True)
    answer = {e["resource"]["resourceType"]: e for e in entries(response)}
    ids = {e["resource"]["resourceType"]: e["resource"]["id"] for e in first}
    patient, encounter = answer["Patient"]["resource"], answer["Encounter"]["resource"]
    assert (patient["id"], patient["meta"]["versionId"]) == (ids["Patient"], "2")
    assert (encounter["id"], encounter["meta"]["versionId"]) == (ids["Encounter"], "2")
    assert answer["Organization"]["resource"]["meta"]["versionId"] == "1"  # unchanged: not rewritten
    assert patient["telecom"] == [{"system": "phone", "value": "0601020304"}]
    assert encounter["period"]["end"] == "2023-05-01"
    history = requests.get(f"{hapi.base_url}/Patient/{ids['Patient']}/_history", timeout=60).json()
    assert sorted(e["resource"]["meta"]["versionId"] for e in history["entry"]) == ["1", "2"]
    assert {k: v for k, v in counts(hapi).items() if k != "Provenance"} == \
        {k: v for k, v in before.items() if k != "Provenance"}

    provenances = stored(hapi, "Provenance", target=f"Patient/{ids['Patient']}")
    assert len(provenances) == 2  # one per submission that wrote something
    latest = next(p for p in provenances if f"Patient/{ids['Patient']}/_history/2" in
                  {t["reference"] for t in p["target"]})
    assert f"Encounter/{ids['Encounter']}/_history/2" in {t["reference"] for t in latest["target"]}
    agent = latest["agent"][0]
    assert agent["who"]["identifier"]["value"] == "test-dui"
    assert agent["onBehalfOf"]["identifier"]["value"] == \
        resource_of(fresh_bundle, "Organization")["identifier"][0]["value"]


def with_pi(bundle: dict, value: str) -> dict:
    identifiers = resource_of(bundle, "Patient")["identifier"]
    identifiers.append({"use": "usual", "type": copy.deepcopy(PI_TYPE), "system": PI_SYSTEM, "value": value})
    return bundle


def without_ins(bundle: dict, pi_value: str) -> dict:
    """The same facility's export before the INS was known: a TDDUIPatient with its PI only."""
    changed = copy.deepcopy(bundle)
    patient = copy.deepcopy(load_examples().patient)
    patient["identifier"][0]["value"] = pi_value
    patient["id"] = resource_of(changed, "Patient")["id"]
    changed["entry"][0]["resource"] = patient
    return changed


def test_patient_first_without_ins_then_with_it_stays_one_record(gateway, hapi, fresh_bundle):
    pi_value = "PI-" + resource_of(fresh_bundle, "Patient")["identifier"][0]["value"]
    first = post(gateway, without_ins(fresh_bundle, pi_value))
    assert first.status_code == 201, first.get_data(as_text=True)
    patient_id = entries(first)[0]["resource"]["id"]

    later = post(gateway, with_pi(copy.deepcopy(fresh_bundle), pi_value))

    assert later.status_code == 200, later.get_data(as_text=True)
    assert entries(later)[0]["resource"]["id"] == patient_id
    assert entries(later)[0]["resource"]["meta"]["versionId"] == "2"
    assert len(stored(hapi, "Patient", identifier=identifier_query(resource_of(fresh_bundle, "Patient")))) == 1
    assert len(stored(hapi, "Patient", identifier=f"{PI_SYSTEM}|{pi_value}")) == 1
    # What is stored is what was sent: the profile changed with the INS (HAPI's mass ingestion mode
    # skips updating the profiles and tags of an existing resource unless tags are stored INLINE),
    # the legal-entity tag is still there, and version 1 keeps what was sent first.
    current, first_version = (requests.get(f"{hapi.base_url}/Patient/{patient_id}{path}", timeout=60).json()
                              for path in ("", "/_history/1"))
    assert current["meta"]["profile"] == [TDDUI + "tddui-patient-ins"]
    assert first_version["meta"]["profile"] == [TDDUI + "tddui-patient"]
    for version in (current, first_version):
        assert [t["system"] for t in version["meta"]["tag"]] == [LEGAL_ENTITY_TAG_SYSTEM]


def test_two_legal_entities_sending_the_same_ins_keep_two_records(gateway, hapi, fresh_bundle):
    other_entity = move_to_legal_entity(copy.deepcopy(fresh_bundle), fresh_finess())
    mine = entries(post(gateway, fresh_bundle))
    theirs = entries(post(gateway, other_entity))
    assert mine[0]["response"]["status"] == theirs[0]["response"]["status"] == "201 Created"
    assert mine[0]["resource"]["id"] != theirs[0]["resource"]["id"]

    changed = post(gateway, next_export(other_entity, "0611111111", "2023-06-01"))

    assert changed.status_code == 200
    ins = identifier_query(resource_of(fresh_bundle, "Patient"))
    patients = {p["id"]: p for p in stored(hapi, "Patient", identifier=ins)}
    assert len(patients) == 2
    assert "telecom" not in patients[mine[0]["resource"]["id"]]
    assert patients[mine[0]["resource"]["id"]]["meta"]["versionId"] == "1"
    assert patients[theirs[0]["resource"]["id"]]["telecom"][0]["value"] == "0611111111"
    for patient in patients.values():
        assert [t["code"] for t in patient["meta"]["tag"] if t["system"] == LEGAL_ENTITY_TAG_SYSTEM] in (
            [resource_of(fresh_bundle, "Organization")["identifier"][0]["value"]],
            [resource_of(other_entity, "Organization")["identifier"][0]["value"]])


def send_concurrently(gateway_app, bundles: list[dict]) -> list[int]:
    start = threading.Barrier(len(bundles))
    statuses = []

    def producer(bundle):
        client = gateway_app.test_client()
        client.environ_base["HTTP_X_API_KEY"] = TEST_API_KEY
        start.wait()
        statuses.append(post(client, bundle).status_code)

    threads = [threading.Thread(target=producer, args=(bundle,)) for bundle in bundles]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    return statuses


def test_concurrent_identical_submissions_store_one_set(gateway_app, running_hapi, fresh_bundle):
    statuses = send_concurrently(gateway_app, [fresh_bundle] * 4)

    assert len(statuses) == 4 and set(statuses) <= {200, 201}, statuses
    assert statuses.count(201) >= 1
    for kind in ("Patient", "Organization", "Encounter"):
        assert len(stored(running_hapi, kind, identifier=identifier_query(resource_of(fresh_bundle, kind)))) == 1


def test_concurrent_changed_submissions_end_as_one_of_them_never_a_mix(gateway_app, gateway, running_hapi,
                                                                       fresh_bundle):
    assert post(gateway, fresh_bundle).status_code == 201
    versions = [next_export(fresh_bundle, f"06000000{n:02d}", f"2023-05-{n + 10:02d}") for n in range(4)]

    statuses = send_concurrently(gateway_app, versions)

    assert len(statuses) == 4 and set(statuses) == {200}, statuses
    patients = stored(running_hapi, "Patient", identifier=identifier_query(resource_of(fresh_bundle, "Patient")))
    stays = stored(running_hapi, "Encounter", identifier=identifier_query(resource_of(fresh_bundle, "Encounter")))
    assert len(patients) == len(stays) == 1
    final = (patients[0]["telecom"][0]["value"], stays[0]["period"]["end"])
    sent = [(resource_of(v, "Patient")["telecom"][0]["value"], resource_of(v, "Encounter")["period"]["end"])
            for v in versions]
    assert final in sent


def test_identifiers_naming_two_stored_records_are_refused_whole(gateway, hapi, fresh_bundle):
    pi_value = "PI-" + resource_of(fresh_bundle, "Patient")["identifier"][0]["value"]
    by_pi = without_ins(fresh_bundle, pi_value)
    resource_of(by_pi, "Encounter")["identifier"][0]["value"] += "-BY-PI"
    assert post(gateway, by_pi).status_code == 201
    assert post(gateway, fresh_bundle).status_code == 201  # by INS: another record
    before = counts(hapi)

    both = post(gateway, with_pi(copy.deepcopy(fresh_bundle), pi_value))

    assert both.status_code == 412, both.get_data(as_text=True)
    issue = both.get_json()["issue"][0]
    assert issue["details"]["coding"][0]["code"] == "gateway-receipt-double-match"
    assert issue["expression"] == ["Bundle.entry[0].resource.identifier"]
    assert counts(hapi) == before


def test_a_resource_without_business_identifier_is_a_plain_create(gateway, hapi, fresh_bundle):
    """Per the descriptor, a Patient is matched on INS or PI; one with neither is created each time."""
    anonymous = without_ins(fresh_bundle, "unused")
    patient = resource_of(anonymous, "Patient")
    patient["identifier"][0]["type"]["coding"][0]["code"] = "RRI"  # a regional registry id, not a PI
    patient["identifier"][0]["type"]["coding"][0]["display"] = "Regional registry ID"
    first, second = post(gateway, anonymous), post(gateway, anonymous)
    assert first.status_code == 201, first.get_data(as_text=True)
    assert second.status_code == 201
    assert entries(first)[0]["resource"]["id"] != entries(second)[0]["resource"]["id"]
    assert entries(second)[2]["resource"]["subject"]["reference"] == f"Patient/{entries(second)[0]['resource']['id']}"


def test_hapi_still_validates_each_forwarded_resource_against_its_tddui_profile(hapi, fresh_bundle, packages,
                                                                               settings):
    """The forwarded PUTs no longer claim TDDUIBundle, but each resource keeps its profile.

    The mutation of a bundle whose stay has no ``serviceProvider`` (1..1 in
    TDDUIEncounterSejour, 0..1 in R4) is sent straight to HAPI, which must
    refuse it under the TDDUI profile.
    """
    from gateway import audit, audit_event, receipt
    from gateway.auth import LegalEntity
    from gateway.descriptor import load_descriptor
    descriptor = load_descriptor(settings.implementation_guide, packages)
    del resource_of(fresh_bundle, "Encounter")["serviceProvider"]
    mutation = receipt.decide(fresh_bundle, "upsert", LegalEntity("urn:oid:1.2.250.1.71.4.2.2", "1999999998"),
                              descriptor.business_identifiers, "test-dui", audit.submission_id("t", fresh_bundle),
                              frozenset({TDDUI + "tddui-bundle"}),
                              audit_event.build(producer_id="test-dui", legal_entity=None, status=200, request_id="r",
                                                submission=None, entries=3, issues=[]))
    answer = requests.post(f"{hapi.base_url}/", json=mutation.transaction, timeout=120,
                           headers={"Content-Type": "application/fhir+json"})
    assert answer.status_code == 422, answer.text
    errors = [i for i in answer.json()["issue"] if i["severity"] in ("error", "fatal")]
    assert any("Encounter.serviceProvider" in i.get("diagnostics", "") + " ".join(i.get("expression", []))
               and "tddui-encounter-sejour" in i.get("diagnostics", "") for i in errors), \
        [(i.get("diagnostics"), i.get("expression")) for i in errors]
