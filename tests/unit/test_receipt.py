"""The receipt's one decision, offline: conditional updates within the legal entity, and the audit Provenance."""
from __future__ import annotations

import copy
import hashlib
import json
from urllib.parse import unquote

import pytest

from gateway import audit, audit_event, receipt
from gateway.auth import LegalEntity
from gateway.descriptor import load_descriptor
from tests.cases import PI_TYPE

BUNDLE_PROFILE = "https://interop.esante.gouv.fr/ig/fhir/tddui/StructureDefinition/tddui-bundle"
ENTITY = LegalEntity("urn:oid:1.2.250.1.71.4.2.2", "1480787529")


@pytest.fixture(scope="module")
def descriptor(packages, settings):
    return load_descriptor(settings.implementation_guide, packages)


def decide(bundle, descriptor, mode="upsert"):
    submission = audit.submission_id("acme", bundle)
    event = audit_event.build(producer_id="acme", legal_entity=ENTITY.identifier, status=200, request_id="r-1",
                              submission=submission, entries=len(bundle.get("entry", [])), issues=[])
    return receipt.decide(bundle, mode, ENTITY, descriptor.business_identifiers, "acme", submission,
                          frozenset({BUNDLE_PROFILE}), event)


def entry(bundle, kind):
    return next(e for e in bundle["entry"] if e["resource"]["resourceType"] == kind)


def test_each_entry_becomes_a_conditional_update_within_the_legal_entity(ig_example_bundle, descriptor):
    mutation = decide(ig_example_bundle, descriptor)
    tag = "&_tag=https%3A%2F%2Fgithub.com%2Ftddui-gateway%2Flegal-entity|1480787529"
    patient = entry(mutation.transaction, "Patient")["request"]
    assert patient["method"] == "PUT"
    assert patient["url"] == "Patient?identifier=urn%3Aoid%3A1.2.250.1.213.1.4.8|147720425367411" + tag
    assert entry(mutation.transaction, "Organization")["request"]["url"] == \
        "Organization?identifier=urn%3Aoid%3A1.2.250.1.71.4.2.2|1480787529" + tag
    assert entry(mutation.transaction, "Encounter")["request"]["url"].startswith(
        "Encounter?identifier=urn%3Aoid%3A1.2.250.2345.3245.13|")
    for forwarded in mutation.transaction["entry"][:-1]:  # the entries and the Provenance; not the AuditEvent
        assert {"system": receipt.LEGAL_ENTITY_TAG_SYSTEM, "code": "1480787529"} in forwarded["resource"]["meta"]["tag"]


def test_a_patient_is_matched_on_any_of_its_ins_and_pi(ig_example_bundle, descriptor):
    patient = ig_example_bundle["entry"][0]["resource"]
    patient["identifier"].append({"type": PI_TYPE, "system": "http://ipp.example", "value": "42"})
    patient["identifier"].append({"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203",
                                                       "code": "RRI"}]}, "system": "http://rri.example", "value": "7"})
    url = entry(decide(ig_example_bundle, descriptor).transaction, "Patient")["request"]["url"]
    assert url.startswith("Patient?identifier=urn%3Aoid%3A1.2.250.1.213.1.4.8|147720425367411,"
                          "http%3A%2F%2Fipp.example|42&_tag=")


def test_producer_ids_are_dropped_and_references_follow_the_new_full_urls(ig_example_bundle, descriptor):
    original = copy.deepcopy(ig_example_bundle)
    transaction = decide(ig_example_bundle, descriptor).transaction
    assert ig_example_bundle == original, "the producer's bundle is never edited"
    full_urls = [e["fullUrl"] for e in transaction["entry"]]
    assert all(url.startswith("urn:uuid:") for url in full_urls) and len(set(full_urls)) == len(full_urls)
    assert all("id" not in e["resource"] for e in transaction["entry"])
    encounter = entry(transaction, "Encounter")["resource"]
    assert encounter["subject"]["reference"] == entry(transaction, "Patient")["fullUrl"]
    assert encounter["serviceProvider"]["reference"] == entry(transaction, "Organization")["fullUrl"]


def test_the_bundle_profile_is_not_forwarded_but_each_resource_keeps_its_own(ig_example_bundle, descriptor):
    transaction = decide(ig_example_bundle, descriptor).transaction
    assert BUNDLE_PROFILE not in (transaction.get("meta") or {}).get("profile", [])
    assert entry(transaction, "Patient")["resource"]["meta"]["profile"] == \
        ig_example_bundle["entry"][0]["resource"]["meta"]["profile"]


def test_create_mode_sends_plain_creates(ig_example_bundle, descriptor):
    transaction = decide(ig_example_bundle, descriptor, mode="create").transaction
    assert [e["request"] for e in transaction["entry"][:3]] == [
        {"method": "POST", "url": kind} for kind in ("Patient", "Organization", "Encounter")]


def test_a_resource_without_business_identifier_is_a_plain_create(descriptor):
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": "urn:uuid:0f8d7a3e-5b1c-4c7e-9a51-2d3c4b5a6f70",
         "resource": {"resourceType": "Patient", "identifier": [{"system": "http://x", "value": "untyped"}]},
         "request": {"method": "POST", "url": "Patient"}}]}
    assert decide(bundle, descriptor).transaction["entry"][0]["request"] == {"method": "POST", "url": "Patient"}


def test_search_separators_in_values_are_escaped():
    assert receipt.search_token("a,b|c$d") == "a%5C%2Cb%5C%7Cc%5C%24d"


def test_the_provenance_and_audit_event_ride_along_and_are_cut_from_the_answer(ig_example_bundle, descriptor):
    mutation = decide(ig_example_bundle, descriptor)
    provenance_entry, audit_entry = mutation.transaction["entry"][-2:]
    assert audit_entry["resource"]["resourceType"] == "AuditEvent"
    assert audit_entry["request"] == {"method": "POST", "url": "AuditEvent"}
    provenance = provenance_entry["resource"]
    assert provenance["resourceType"] == "Provenance"
    assert [t["reference"] for t in provenance["target"]] == [e["fullUrl"] for e in mutation.transaction["entry"][:3]]
    assert provenance["agent"][0]["who"]["identifier"]["value"] == "acme"
    assert provenance["agent"][0]["onBehalfOf"]["identifier"] == ENTITY.identifier
    assert provenance_entry["request"]["ifNoneExist"].endswith(audit.submission_id("acme", ig_example_bundle))
    answer = {"resourceType": "Bundle", "type": "transaction-response",
              "entry": [{"response": {"status": "200 OK"}}] * 5}
    assert len(mutation.post_process(answer)["entry"]) == 3


def test_the_same_submission_is_forwarded_identically(ig_example_bundle, descriptor):
    first, second = decide(ig_example_bundle, descriptor), decide(copy.deepcopy(ig_example_bundle), descriptor)
    assert first.transaction["entry"][:3] == second.transaction["entry"][:3]
    assert [e["fullUrl"] for e in first.transaction["entry"][:4]] == \
        [e["fullUrl"] for e in second.transaction["entry"][:4]]


def test_a_double_match_diagnostic_is_traced_to_its_entry(ig_example_bundle, descriptor):
    mutation = decide(ig_example_bundle, descriptor)
    url = mutation.conditional_urls[0]
    assert mutation.entry_of_conditional_url(f'HAPI-0988: matched 2 resources: "{unquote(url)}"') == 0
    assert mutation.entry_of_conditional_url("something else") is None


def test_submission_id_is_stable_for_a_resend_and_differs_per_producer_and_content(ig_example_bundle):
    again = copy.deepcopy(ig_example_bundle)
    assert audit.submission_id("acme", ig_example_bundle) == audit.submission_id("acme", again)
    assert audit.submission_id("acme", ig_example_bundle) != audit.submission_id("other", again)
    again["entry"][0]["resource"]["birthDate"] = "1901-01-01"
    assert audit.submission_id("acme", ig_example_bundle) != audit.submission_id("acme", again)


def test_submission_id_hashed_entry_by_entry_is_the_digest_of_the_whole_canonical_json(ig_example_bundle):
    """Resends of bundles stored before the digest was streamed still find their Provenance."""
    whole = json.dumps(ig_example_bundle, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert "".join(audit.canonical_pieces(ig_example_bundle)) == whole
    assert audit.submission_id("acme", ig_example_bundle) == hashlib.sha256(f"acme\n{whole}".encode()).hexdigest()
