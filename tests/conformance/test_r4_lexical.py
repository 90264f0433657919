"""What R4 says beyond its regexes and snapshots: logical ids, URIs, fullUrls,
JSON null, the minimum cardinalities of datatypes, narrative XHTML. Each
mutation is one HAPI refuses (tests/mutation); the engine names the rule."""
import pytest

from tests.cases import v1

UUID = "urn:uuid:3f1c0f1e-5a3b-4c1d-9e2f-0a1b2c3d4e5f"


def refusals(verdict):
    return {(i.expression, i.rule) for i in verdict.issues if i.blocking}


def test_the_example_stays_accepted(engine, examples):
    assert engine.judge(v1(examples)).accepted


@pytest.mark.parametrize("bad_id", ["a_b", "a" * 65, " x", "x/1", "xé", ""])
def test_a_resource_id_is_an_r4_id(engine, examples, bad_id):
    bundle = v1(examples)
    bundle["id"] = bad_id
    assert ("Bundle.id", "fhir-primitive") in refusals(engine.judge(bundle))
    bundle = v1(examples)
    bundle["entry"][0]["resource"]["id"] = bad_id
    assert ("Bundle.entry[0].resource.id", "fhir-primitive") in refusals(engine.judge(bundle))


def test_a_64_character_id_with_dots_and_dashes_is_an_id(engine, examples):
    bundle = v1(examples)
    bundle["id"] = "b.-" + "c" * 61
    assert ("Bundle.id", "fhir-primitive") not in refusals(engine.judge(bundle))


@pytest.mark.parametrize("full_url, rule", [
    ("urn:uuid:not-a-uuid", "fhir-uri-urn"), ("URN:UUID:" + UUID[9:], "fhir-full-url"),
    ("Patient/x", "fhir-uri-absolute"), ("https://test-server.fr/Basic/x", "fhir-full-url"),
    ("https://test-server.fr/Patient/other", "fhir-full-url"), ("", "fhir-primitive"),
    ("{base}/_history/1", "fhir-full-url"), ("urn:oid:1.2.250.01", "fhir-uri-urn")])
def test_a_full_url_is_absolute_and_names_its_resource(engine, examples, full_url, rule):
    bundle = v1(examples)
    entry = bundle["entry"][0]
    entry["fullUrl"] = full_url.format(base=entry["fullUrl"])
    assert ("Bundle.entry[0].fullUrl", rule) in refusals(engine.judge(bundle))


def test_a_restful_full_url_needs_the_resource_id(engine, examples):
    bundle = v1(examples)
    del bundle["entry"][1]["resource"]["id"]
    assert ("Bundle.entry[1].fullUrl", "fhir-full-url") in refusals(engine.judge(bundle))


@pytest.mark.parametrize("system, rule", [
    ("1.2.250.1", "fhir-uri-absolute"), ("http://", "fhir-uri-absolute"), ("urn:oid:abc", "fhir-uri-urn"),
    ("urn:oid:1.2.250.01.3", "fhir-uri-urn"), ("urn:uuid:not-a-uuid", "fhir-uri-urn")])
def test_identifier_systems_are_absolute_uris(engine, examples, system, rule):
    bundle = v1(examples)
    bundle["entry"][0]["resource"]["identifier"][0]["system"] = system
    assert ("Bundle.entry[0].resource.identifier[0].system", rule) in refusals(engine.judge(bundle))


def test_null_is_refused_outside_arrays_even_beside_its_element(engine, examples):
    bundle = v1(examples)
    name = bundle["entry"][0]["resource"]["name"][0]
    name["use"], name["_use"] = None, {"extension": [{"url": "http://example.org/x", "valueString": "x"}]}
    assert ("Bundle.entry[0].resource.name[0].use", "fhir-json-null") in refusals(engine.judge(bundle))


def test_datatype_minimum_cardinalities_apply_unprofiled(engine, examples):
    bundle = v1(examples)
    resource = bundle["entry"][0]["resource"]
    resource["text"] = {"status": "generated"}
    assert ("Bundle.entry[0].resource.text.div", "Narrative.div") in refusals(engine.judge(bundle))
    resource["text"] = {"div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'}
    assert ("Bundle.entry[0].resource.text.status", "Narrative.status") in refusals(engine.judge(bundle))


@pytest.mark.parametrize("div, rule", [
    ('<div xmlns="http://www.w3.org/1999/xhtml" onclick="x()">x</div>', "txt-1"),
    ('<div xmlns="http://www.w3.org/1999/xhtml"><script>x()</script>x</div>', "txt-1"),
    ('<div xmlns="http://www.w3.org/1999/xhtml"> </div>', "txt-2"),
    ("<div>x</div>", "fhir-xhtml"), ('<div xmlns="http://www.w3.org/1999/xhtml">x', "fhir-xhtml"),
    ('<div xmlns="http://www.w3.org/1999/xhtml">&nbsp;</div>', "fhir-xhtml")])
def test_narrative_xhtml(engine, examples, div, rule):
    bundle = v1(examples)
    bundle["entry"][0]["resource"]["text"] = {"status": "generated", "div": div}
    assert ("Bundle.entry[0].resource.text.div", rule) in refusals(engine.judge(bundle))


def test_a_valid_narrative_is_accepted(engine, examples):
    bundle = v1(examples)
    bundle["entry"][0]["resource"]["text"] = {
        "status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>Jean <b>D</b></p></div>'}
    assert engine.judge(bundle).accepted


@pytest.mark.parametrize("name", ["fhir_comments", "resourceType"])
def test_names_r4_lacks_are_unknown_elements_in_datatypes(engine, examples, name):
    bundle = v1(examples)
    bundle["entry"][0]["resource"]["identifier"][0][name] = "x"
    assert (f"Bundle.entry[0].resource.identifier[0].{name}", "fhir-element") in refusals(engine.judge(bundle))


def test_a_request_url_is_relative_to_the_server_root(engine, examples):
    bundle = v1(examples)
    bundle["entry"][0]["request"]["url"] = "http://foreign.example.org/fhir/Patient"
    assert ("Bundle.entry[0].request.url", "fhir-request-url") in refusals(engine.judge(bundle))


def test_reference_type_names_the_referenced_resource(engine, examples):
    bundle = v1(examples)
    bundle["entry"][2]["resource"]["subject"]["type"] = "Group"
    assert ("Bundle.entry[2].resource.subject.type", "Reference.type") in refusals(engine.judge(bundle))
    bundle["entry"][2]["resource"]["subject"]["type"] = "Patient"
    assert engine.judge(bundle).accepted


def test_if_none_exist_names_the_resource_own_identifier(engine, examples):
    bundle = v1(examples)
    entry = bundle["entry"][0]
    identifier = entry["resource"]["identifier"][0]
    entry["request"]["ifNoneExist"] = f"identifier={identifier['system']}|{identifier['value']}"
    assert ("Bundle.entry[0].request.ifNoneExist", "fhir-if-none-exist") not in refusals(engine.judge(bundle))
    entry["request"]["ifNoneExist"] = "identifier=urn:oid:1.2.3|none"
    assert ("Bundle.entry[0].request.ifNoneExist", "fhir-if-none-exist") in refusals(engine.judge(bundle))


def test_a_type_id_reference_does_not_reach_an_entry_named_by_a_urn(engine, examples):
    bundle = v1(examples)
    bundle["entry"][0]["fullUrl"] = UUID
    assert ("Bundle.entry[2].resource.subject.reference", "BR-REFERENCE-IN-BUNDLE") in refusals(engine.judge(bundle))
    bundle["entry"][2]["resource"]["subject"]["reference"] = UUID
    assert engine.judge(bundle).accepted


def test_an_extension_on_a_resource_is_allowed_there_by_its_context(engine, examples):
    bundle = v1(examples)
    patient = bundle["entry"][0]["resource"]
    patient.setdefault("extension", []).append(
        {"url": "https://interop.esante.gouv.fr/ig/fhir/tddui/StructureDefinition/tddui-exit-mode-label",
         "valueString": "x"})  # its context is Encounter
    where = f"Bundle.entry[0].resource.extension[{len(patient['extension']) - 1}]"
    assert (where, "fhir-extension-context") in refusals(engine.judge(bundle))
