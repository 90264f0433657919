"""Conditional creates on business identifiers, and the audit Provenance."""
from __future__ import annotations

import copy

from gateway import audit, idempotency


def entry(resource_type, bundle):
    return next(e for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type)


def test_each_ig_example_create_gets_its_business_identifier(ig_example_bundle):
    bundle = idempotency.make_conditional(copy.deepcopy(ig_example_bundle))
    patient = entry("Patient", bundle)["request"]["ifNoneExist"]
    organisation = entry("Organization", bundle)["request"]["ifNoneExist"]
    encounter = entry("Encounter", bundle)["request"]["ifNoneExist"]
    assert patient.startswith("identifier=urn%3Aoid%3A1.2.250.1.213.1.4.8|")  # the INS (NIR), first choice
    assert organisation == "identifier=urn%3Aoid%3A1.2.250.1.71.4.2.2|1480787529"
    assert encounter.startswith("identifier=") and "|" in encounter


def test_patient_without_ins_falls_back_to_its_local_pi_identifier():
    patient = {"resourceType": "Patient", "identifier": [
        {"type": {"coding": [{"code": "PI"}]}, "system": "urn:oid:1.2.3", "value": "3480787529/42"}]}
    assert idempotency.business_identifier(patient)["value"] == "3480787529/42"


def test_resource_without_business_identifier_stays_a_plain_create():
    bundle = {"entry": [{"resource": {"resourceType": "Patient", "identifier": [{"value": "no-system"}]},
                         "request": {"method": "POST", "url": "Patient"}}]}
    idempotency.make_conditional(bundle)
    assert "ifNoneExist" not in bundle["entry"][0]["request"]


def test_search_separators_in_values_are_escaped():
    assert idempotency.search_token("a,b|c$d") == "a%5C%2Cb%5C%7Cc%5C%24d"


def test_provenance_names_the_producer_targets_every_entry_and_is_itself_conditional(ig_example_bundle):
    submission = audit.submission_id("acme", ig_example_bundle)
    bundle = audit.add_provenance(copy.deepcopy(ig_example_bundle), "acme", submission)
    provenance_entry = bundle["entry"][-1]
    provenance = provenance_entry["resource"]
    assert provenance["resourceType"] == "Provenance"
    assert [t["reference"] for t in provenance["target"]] == [
        f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in ig_example_bundle["entry"]]
    assert provenance["agent"][0]["who"]["identifier"]["value"] == "acme"
    assert provenance["meta"]["tag"][0]["code"] == submission
    assert provenance_entry["request"]["ifNoneExist"].endswith(submission)


def test_provenance_points_at_urn_uuid_entries_by_their_full_url():
    bundle = {"entry": [{"fullUrl": "urn:uuid:0f8d7a3e-5b1c-4c7e-9a51-2d3c4b5a6f70",
                         "resource": {"resourceType": "Patient", "id": "p"}}]}
    provenance = audit.add_provenance(bundle, "acme", "0" * 64)["entry"][-1]["resource"]
    assert provenance["target"] == [{"reference": "urn:uuid:0f8d7a3e-5b1c-4c7e-9a51-2d3c4b5a6f70"}]


def test_submission_id_is_stable_for_a_resend_and_differs_per_producer_and_content(ig_example_bundle):
    again = copy.deepcopy(ig_example_bundle)
    assert audit.submission_id("acme", ig_example_bundle) == audit.submission_id("acme", again)
    assert audit.submission_id("acme", ig_example_bundle) != audit.submission_id("other", again)
    again["entry"][0]["resource"]["birthDate"] = "1901-01-01"
    assert audit.submission_id("acme", ig_example_bundle) != audit.submission_id("acme", again)
