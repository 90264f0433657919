"""FHIR XML: the converter against HAPI's own XML, XML bodies through the gateway, hostile XML refused.

HAPI writes every conformance resource and example of the TDDUI and FR Core
packages as XML and as JSON; the gateway's reader turns the XML into exactly
that JSON, and its writer turns the JSON into the same XML (compared in
canonical form: attribute order and namespace spelling aside).
"""
from __future__ import annotations

import copy
import json
import re
from xml.etree.ElementTree import canonicalize

import pytest
import requests
from defusedxml.ElementTree import fromstring

from gateway.fhir_xml import FhirXml
from gateway.intake import Limits, Rejected
from tests.conftest import TEST_API_KEY

FHIR_XML = "application/fhir+xml"
UNBOUND_SPECIALTY = ("Appointment", "Schedule", "Slot")  # FR Core examples, specialty TRE-R38
PACKAGES = ("ans.fhir.fr.tddui#2.0.0-ballot", "hl7.fhir.fr.core#2.1.0")


@pytest.fixture(scope="module")
def xml(settings) -> FhirXml:
    return FhirXml.from_package(settings.r4_core_package_path)


def canonical_divs(node):
    """Narrative divs compared as canonical XML with whitespace runs collapsed: the same XHTML may be
    spelt <td/> or <td></td>, and HAPI's XML writer turns a newline between two tags into a space."""
    if isinstance(node, dict):
        return {key: re.sub(r"\s+", " ", canonicalize(value)) if key == "div" and isinstance(value, str) else canonical_divs(value)
                for key, value in node.items()}
    if isinstance(node, list):
        return [canonical_divs(item) for item in node]
    return node


def hapi_copies(hapi, packages):
    """(label, HAPI's XML, HAPI's JSON) of every package resource and example, as HAPI stores them."""
    session = requests.Session()
    for package_id in PACKAGES:
        package = packages.package(package_id)
        for resource in package.resources:
            params = {"url": resource["url"], "_sort": "_id"} if "url" in resource else None
            if params is None:
                continue
            found = session.get(f"{hapi.base_url}/{resource['resourceType']}", params=params,
                                headers={"Accept": "application/fhir+json"}, timeout=60).json()
            if not found.get("entry"):
                continue  # HAPI did not store it (a package resource HAPI's installer skips)
            stored = found["entry"][0]["resource"]
            yield from _both_formats(session, hapi, stored["resourceType"], stored["id"], resource["url"])
    # The examples go in as one collection Bundle: stored whole, their identifiers are not indexed,
    # so no later conditional create of the session matches them.
    examples = [copy.deepcopy(example) for package_id in PACKAGES
                for example in packages.package(package_id).examples.values()]
    for example in examples:
        if example["resourceType"] in UNBOUND_SPECIALTY:
            # HAPI's request validation refuses these codes: the ValueSet's code system is not in the packages.
            example.pop("specialty", None)
    collection = {"resourceType": "Bundle", "type": "collection",
                  "entry": [{"fullUrl": f"urn:uuid:00000000-0000-0000-0000-{number:012d}", "resource": example}
                            for number, example in enumerate(examples)]}
    created = session.post(f"{hapi.base_url}/Bundle", data=json.dumps(collection),
                           headers={"Content-Type": "application/fhir+json"}, timeout=60)
    assert created.status_code == 201, created.text[:500]
    bundle_id = created.headers["Location"].split("/Bundle/")[1].split("/")[0]
    yield from _both_formats(session, hapi, "Bundle", bundle_id, f"the {len(examples)} examples")


def _both_formats(session, hapi, resource_type, resource_id, label):
    url = f"{hapi.base_url}/{resource_type}/{resource_id}"
    as_xml = session.get(url, params={"_format": "xml", "_pretty": "false"}, timeout=60)
    as_json = session.get(url, params={"_format": "json"}, timeout=60)
    assert as_xml.headers["Content-Type"].startswith(FHIR_XML)
    yield label, as_xml.content, as_json.json()


def test_hapi_xml_of_every_package_resource_and_example_reads_back_as_its_json(hapi, packages, xml):
    compared = 0
    for label, hapi_xml, hapi_json in hapi_copies(hapi, packages):
        converted = xml.parse_resource(hapi_xml, Limits(max_depth=200))
        assert canonical_divs(converted) == canonical_divs(hapi_json), label
        assert canonicalize(xml.to_xml(hapi_json), strip_text=True) == canonicalize(
            hapi_xml.decode("utf-8"), strip_text=True), label
        compared += 1
    print(f"\n{compared} resources compared with HAPI's XML and JSON")
    assert compared >= 60


def test_ig_example_posted_as_xml_is_stored_like_the_json_one(gateway, fresh_bundle, xml):
    as_xml = gateway.post("/", data=xml.to_xml(fresh_bundle), content_type=FHIR_XML, headers={"Accept": FHIR_XML})
    assert as_xml.status_code == 201, as_xml.get_data(as_text=True)[:2000]
    assert as_xml.mimetype == FHIR_XML
    created = xml.parse_resource(as_xml.get_data())
    assert created["type"] == "transaction-response"
    # The same bundle in JSON finds every resource the XML one stored and creates none of them; only
    # the audit Provenance is new (the narrative's XHTML is spelt differently, so the submission differs).
    as_json = gateway.post("/", data=json.dumps(fresh_bundle), content_type="application/fhir+json")
    assert as_json.status_code in (200, 201), as_json.get_data(as_text=True)[:2000]

    def stored(answer_entries):
        return [(entry["response"]["location"].split("/_history")[0], entry["response"]["status"][:3])
                for entry in answer_entries if not entry["response"]["location"].startswith("Provenance/")]
    from_json = stored(as_json.get_json()["entry"])
    assert len(from_json) == len(fresh_bundle["entry"])
    assert [location for location, _ in from_json] == [location for location, _ in stored(created["entry"])]
    assert {status for _, status in from_json} == {"200"}


def test_invalid_bundle_as_xml_gets_the_json_verdict(gateway, fresh_bundle, xml):
    del fresh_bundle["entry"][2]["resource"]["status"]
    answers = [gateway.post("/", data=body, content_type=content_type, headers={"Accept": "application/fhir+json"})
               for body, content_type in ((xml.to_xml(fresh_bundle), FHIR_XML),
                                          (json.dumps(fresh_bundle), "application/fhir+json"))]
    assert [answer.status_code for answer in answers] == [422, 422]
    assert answers[0].get_json() == answers[1].get_json()


def test_operation_outcome_follows_accept_and_format_parameter(gateway, xml):
    refused = gateway.post("/?_format=xml", data=b"{", content_type="application/fhir+json")
    assert refused.status_code == 400 and refused.mimetype == FHIR_XML
    assert xml.parse_resource(refused.get_data())["resourceType"] == "OperationOutcome"
    by_accept = gateway.post("/", data=b"<Bundle", content_type=FHIR_XML)
    assert by_accept.status_code == 400 and by_accept.mimetype == FHIR_XML  # the body's own format
    json_asked = gateway.post("/", data=b"<Bundle", content_type=FHIR_XML, headers={"Accept": "application/json"})
    assert json_asked.mimetype == "application/fhir+json"
    assert json_asked.get_json()["issue"][0]["details"]["coding"][0]["code"] == "gateway-xml"


HOSTILE = {
    "billion laughs": b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
                      b'<Bundle xmlns="http://hl7.org/fhir"><type value="&lol2;"/></Bundle>',
    "external entity": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
                       b'<Bundle xmlns="http://hl7.org/fhir"><type value="&xxe;"/></Bundle>',
    "DTD only": b'<!DOCTYPE Bundle SYSTEM "http://example.org/fhir.dtd"><Bundle xmlns="http://hl7.org/fhir"/>',
    "invalid UTF-8": b'<Bundle xmlns="http://hl7.org/fhir"><type value="\xff\xfe"/></Bundle>',
    "wrong namespace": b'<Bundle xmlns="http://example.org/not-fhir"><type value="transaction"/></Bundle>',
    "no namespace": b'<Bundle><type value="transaction"/></Bundle>',
    "latin-1 declared": b'<?xml version="1.0" encoding="ISO-8859-1"?><Bundle xmlns="http://hl7.org/fhir"/>',
    "unknown element": b'<Bundle xmlns="http://hl7.org/fhir"><colour value="red"/></Bundle>',
    "text in an element": b'<Bundle xmlns="http://hl7.org/fhir">transaction</Bundle>',
    "repeated single element": b'<Bundle xmlns="http://hl7.org/fhir"><type value="a"/><type value="b"/></Bundle>',
    "bad boolean": b'<Patient xmlns="http://hl7.org/fhir"><active value="yes"/></Patient>',
    "truncated": b'<Bundle xmlns="http://hl7.org/fhir"><type value="transaction"/>',
    "deep nesting": b'<Bundle xmlns="http://hl7.org/fhir">' + b"<extension>" * 100 + b"</extension>" * 100
                    + b"</Bundle>",
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_or_bad_xml_is_400_with_an_operation_outcome(gateway, name):
    answer = gateway.post("/", data=HOSTILE[name], content_type=FHIR_XML, headers={"Accept": "application/fhir+json"})
    assert answer.status_code == 400, answer.get_data(as_text=True)
    issue = answer.get_json()["issue"][0]
    assert issue["severity"] == "error" and issue["details"]["coding"][0]["code"] in ("gateway-xml", "gateway-bundle")


def test_primitive_extensions_choice_types_and_contained_resources_convert_both_ways(xml):
    resource = {
        "resourceType": "Patient", "id": "p1",
        "contained": [{"resourceType": "Organization", "id": "o1", "name": "Org"}],
        "extension": [{"url": "http://example.org/e", "valueQuantity": {"value": 1.5, "unit": "kg"}},
                      {"url": "http://example.org/b", "valueBoolean": False}],
        "name": [{"given": ["Anne", None, "Marie"],
                  "_given": [None, {"extension": [{"url": "http://example.org/x", "valueString": "y"}]},
                             {"id": "g3"}]}],
        "birthDate": "1970-01-01",
        "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime",
                                      "valueDateTime": "1970-01-01T10:00:00+01:00"}]},
        "multipleBirthInteger": 2,
        "managingOrganization": {"reference": "#o1"},
    }
    text = xml.to_xml(resource)
    assert '<multipleBirthInteger value="2"/>' in text and '<contained><Organization><id value="o1"/>' in text
    assert xml.to_json(fromstring(text)) == resource


def test_xml_bundle_over_the_entry_limit_is_413(xml, fresh_bundle):
    with pytest.raises(Rejected) as refused:
        xml.parse_bundle(xml.to_xml(fresh_bundle).encode(), Limits(max_entries=2))
    assert refused.value.status == 413


def test_api_key_still_required_for_xml(gateway_app, fresh_bundle, xml):
    anonymous = gateway_app.test_client().post("/", data=xml.to_xml(fresh_bundle), content_type=FHIR_XML)
    assert anonymous.status_code == 401 and anonymous.mimetype == FHIR_XML
    assert TEST_API_KEY  # the authenticated client is the `gateway` fixture
