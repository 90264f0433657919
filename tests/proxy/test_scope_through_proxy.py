"""Authorisation (issue 9, item 1) through the real proxy, each producer known by its certificate.

* every idNatSt and FINESS of an Organization must be the producer's, not just one of them;
* a producer bound to one legal entity may leave the Organization out; one bound to several may not;
* checks run in the order 401, 400, 422, 403: an empty transaction is a content error first.
"""
from __future__ import annotations

from tests.conftest import FINESS_SYSTEM, ID_NAT_ST_SYSTEM as ID_NAT_STRUCT_SYSTEM
from tests.proxy.client import FHIR_JSON, bundle_body, rule_codes, send

FOREIGN_ID_NAT_STRUCT = "1999999999"


def organisation_of(bundle: dict) -> dict:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Organization")


def patient_only(bundle: dict) -> dict:
    """The bundle's TDDUIPatient alone: valid TDDUI, every TDDUIBundle slice is 0..*."""
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"]
    return bundle


def test_an_organisation_with_a_foreign_id_nat_struct_beside_the_producers_finess_is_403(
        proxy, pki, fresh_bundle):
    organisation = organisation_of(fresh_bundle)
    own_finess = next(i["value"] for i in organisation["identifier"] if i["system"] == ID_NAT_STRUCT_SYSTEM)[1:]
    for identifier in organisation["identifier"]:
        if identifier["system"] == ID_NAT_STRUCT_SYSTEM:
            identifier["value"] = FOREIGN_ID_NAT_STRUCT
    organisation["identifier"].append({"system": FINESS_SYSTEM, "value": own_finess})
    answer = send(proxy, pki.context("proxy-dui"), body=bundle_body(fresh_bundle))
    assert answer.status == 403, answer.body[:1000]
    outcome = answer.json()
    assert "gateway-finess-scope" in rule_codes(outcome)
    assert FOREIGN_ID_NAT_STRUCT in " ".join(issue["diagnostics"] for issue in outcome["issue"])


def test_a_patient_only_bundle_from_a_single_entity_producer_is_stored(proxy, pki, fresh_bundle):
    answer = send(proxy, pki.context("single-dui"), body=bundle_body(patient_only(fresh_bundle)))
    assert answer.status == 201, answer.body[:1000]
    kinds = [entry["resource"]["resourceType"] for entry in answer.json()["entry"]]
    assert kinds.count("Patient") == 1


def test_a_patient_only_bundle_from_a_multi_entity_producer_is_422(proxy, pki, fresh_bundle):
    answer = send(proxy, pki.context("proxy-dui"), body=bundle_body(patient_only(fresh_bundle)))
    assert answer.status == 422, answer.body[:1000]
    assert answer.headers["Content-Type"].startswith(FHIR_JSON)
    outcome = answer.json()
    assert outcome["issue"] and all(issue["code"] != "forbidden" for issue in outcome["issue"])
    assert any(code.startswith("BR-") for code in rule_codes(outcome)), outcome


def test_an_empty_transaction_is_422_br_empty_not_403(proxy, pki):
    answer = send(proxy, pki.context("single-dui"), body=b'{"resourceType":"Bundle","type":"transaction"}')
    assert answer.status == 422, answer.body[:1000]
    assert "BR-EMPTY" in rule_codes(answer.json())
