"""Wrong JSON types found by fuzzing: the checks that used to raise on them
(TypeError on hashing a list/object, fhirpathpy on a non-string) must give
way to the R4 pass, which reports the element itself. The verdict is a
refusal naming the element, never an ``exception`` issue."""
import copy

import pytest

from gateway.conformance.terminology import CodeList, codes_in
from tests.cases import CASES, load_examples

OBJECT, LIST_OF_OBJECT = {"a": 1}, [{"a": 1}]
BIRTH_PLACE_CODING = ("entry", 0, "resource", "extension", 1, "valueAddress", "extension", 0, "valueCoding")
BIRTH_PLACE_CODING_AT = "Bundle.entry[0].resource.extension[1].value.extension[0].value"

# (id, baseline, path to the element, wrong value, expression of the issue that names it)
WRONG_TYPES = [
    # normalise: request.url looked up among the profile names
    ("request.url object", "ig", ("entry", 0, "request", "url"), OBJECT, "Bundle.entry[0].request.url"),
    ("request.url list of objects", "ig", ("entry", 0, "request", "url"), LIST_OF_OBJECT,
     "Bundle.entry[0].request.url[0]"),
    # base_check: resourceType looked up among the R4 resource types
    ("resourceType object", "ig", ("entry", 0, "resource", "resourceType"), OBJECT, "Bundle.entry[0].resource"),
    ("resourceType list", "ig", ("entry", 0, "resource", "resourceType"), ["Patient"], "Bundle.entry[0].resource"),
    # BR-UNIQUE-FULLURL counting fullUrls; bdl-8 (fhirpathpy contains() on a non-string)
    ("fullUrl object", "ig", ("entry", 0, "fullUrl"), OBJECT, "Bundle.entry[0].fullUrl"),
    ("fullUrl list of objects", "ig", ("entry", 0, "fullUrl"), LIST_OF_OBJECT, "Bundle.entry[0].fullUrl[0]"),
    ("fullUrl number", "ig", ("entry", 0, "fullUrl"), 5, "Bundle.entry[0].fullUrl"),
    ("fullUrl boolean", "ig", ("entry", 0, "fullUrl"), True, "Bundle.entry[0].fullUrl"),
    ("fullUrl list of numbers", "ig", ("entry", 0, "fullUrl"), [5], "Bundle.entry[0].fullUrl[0]"),
    ("fullUrl two strings", "ig", ("entry", 0, "fullUrl"), ["urn:uuid:a", "urn:uuid:b"], "Bundle.entry[0].fullUrl"),
    # terminology: a required binding (birthPlace's commune) with a non-string system or code
    ("coding.system object", "ig", (*BIRTH_PLACE_CODING, "system"), OBJECT, f"{BIRTH_PLACE_CODING_AT}.system"),
    ("coding.system list of objects", "ig", (*BIRTH_PLACE_CODING, "system"), LIST_OF_OBJECT,
     f"{BIRTH_PLACE_CODING_AT}.system[0]"),
    ("coding.code object", "ig", (*BIRTH_PLACE_CODING, "code"), OBJECT, f"{BIRTH_PLACE_CODING_AT}.code"),
    ("coding.code list of objects", "ig", (*BIRTH_PLACE_CODING, "code"), LIST_OF_OBJECT,
     f"{BIRTH_PLACE_CODING_AT}.code[0]"),
    # terminology.codes_in: CodeableConcept.coding that is not an array
    ("CodeableConcept.coding number", "ig", ("entry", 0, "resource", "identifier", 0, "type", "coding"), 5,
     "Bundle.entry[0].resource.identifier[0].type.coding"),
    # fhirpathpy types a JSON object by its resourceType: a list there crashed bdl-9..12, fr-core-1
    ("object with a list resourceType in Bundle.type", "ig", ("type",), [{"resourceType": ["x"]}], "Bundle.type[0]"),
    ("object with a list resourceType in identifier.system", "ig", ("entry", 0, "resource", "identifier", 0, "system"),
     {"resourceType": ["x"]}, "Bundle.entry[0].resource.identifier[0].system"),
    # profile_check._view: a _name array holding something else than objects
    ("_birthDate list of numbers", "V2", ("entry", 0, "resource", "_birthDate"), [5],
     "Bundle.entry[0].resource.birthDate"),
    ("_birthDate list of strings", "V2", ("entry", 0, "resource", "_birthDate"), ["a", "b"],
     "Bundle.entry[0].resource.birthDate"),
]


def _baseline(name: str) -> dict:
    examples = load_examples()
    return copy.deepcopy(examples.bundle) if name == "ig" else next(c for c in CASES if c.id == name).build(examples)


def _with(bundle: dict, path: tuple, value) -> dict:
    node = bundle
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = copy.deepcopy(value)
    return bundle


@pytest.mark.parametrize("baseline,path,wrong,expression",
                         [case[1:] for case in WRONG_TYPES], ids=[case[0] for case in WRONG_TYPES])
def test_a_wrong_json_type_is_reported_not_crashed_on(engine, caplog, baseline, path, wrong, expression):
    verdict = engine.judge(_with(_baseline(baseline), path, wrong))
    assert not verdict.accepted
    assert [(i.rule, i.expression) for i in verdict.issues if i.code == "exception"] == []
    assert expression in {i.expression for i in verdict.issues if i.blocking}, \
        [(i.rule, i.expression) for i in verdict.issues]
    assert "crashed" not in caplog.text


def test_the_baselines_are_accepted(engine):
    assert engine.judge(_baseline("V2")).accepted
    assert not [i for i in engine.judge(_baseline("ig")).issues if i.blocking]


def test_a_profile_name_in_request_url_is_still_rewritten(engine):
    bundle = _baseline("ig")
    verdict = engine.judge(_with(bundle, ("entry", 1, "request", "url"), OBJECT))
    assert [e["request"]["url"] for e in verdict.bundle["entry"]] == ["Patient", OBJECT, "Encounter"]


def test_unique_full_urls_still_counts_the_strings(engine):
    bundle = _baseline("ig")
    bundle["entry"][1]["fullUrl"] = bundle["entry"][2]["fullUrl"]
    bundle["entry"][0]["fullUrl"] = OBJECT
    verdict = engine.judge(bundle)
    assert not [i for i in verdict.issues if i.code == "exception"]
    assert "Bundle.entry[2].fullUrl" in {i.expression for i in verdict.issues if i.blocking}


def test_codes_in_leaves_out_codings_that_are_not_strings():
    assert codes_in({"system": OBJECT, "code": "a"}) == []
    assert codes_in({"system": "s", "code": ["a"]}) == []
    assert codes_in({"coding": 5}) == []
    assert codes_in({"coding": {"system": "s", "code": "a"}}) == [("s", "a")]
    assert codes_in({"coding": [{"system": ["s"], "code": "a"}, {"system": "s", "code": "b"}]}) == [("s", "b")]


def test_code_list_verdict_is_false_on_anything_but_strings():
    code_list = CodeList({"s": frozenset({"a"})})
    assert code_list.verdict("s", "a") is True
    assert code_list.verdict(["s"], "a") is False
    assert code_list.verdict(OBJECT, "a") is False
    assert code_list.verdict("s", ["a"]) is False
    assert code_list.verdict(None, OBJECT) is False
