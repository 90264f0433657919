"""Each invariant evaluated in Python gives the verdict of its FHIRPath
expression, compiled by the engine, on the §5 bundles and their edge cases."""
import copy

import pytest

from gateway.conformance.fhirpath import FhirPath, is_true, typed_node
from gateway.conformance.python_invariants import BDL_3, BDL_4, BDL_7, EXT_1, PYTHON_INVARIANTS
from tests.cases import CASES, load_examples, v1


def bundles():
    examples = load_examples()
    found = [case.build(examples) for case in CASES]
    found = [b for b in found if isinstance(b, dict) and b.get("resourceType") == "Bundle"]
    base = v1(examples)
    variants = {
        "no type": lambda b: b.pop("type"),
        "history": lambda b: b.__setitem__("type", "history"),
        "batch-response": lambda b: [e.__setitem__("response", {"status": "201"}) or e.pop("request")
                                     for e in b["entry"]] and b.__setitem__("type", "batch-response"),
        "response in a transaction": lambda b: b["entry"][0].__setitem__("response", {"status": "201"}),
        "same fullUrl, different versions": lambda b: [
            b["entry"][1].__setitem__("fullUrl", b["entry"][0]["fullUrl"]),
            b["entry"][0]["resource"]["meta"].__setitem__("versionId", "1"),
            b["entry"][1]["resource"]["meta"].__setitem__("versionId", "2")],
        "same fullUrl, same version": lambda b: [
            b["entry"][1].__setitem__("fullUrl", b["entry"][0]["fullUrl"]),
            b["entry"][0]["resource"]["meta"].__setitem__("versionId", "1"),
            b["entry"][1]["resource"]["meta"].__setitem__("versionId", "1")],
        "no fullUrl at all": lambda b: [e.pop("fullUrl") for e in b["entry"]],
        "no entry": lambda b: b.pop("entry"),
        "empty request": lambda b: b["entry"][0].__setitem__("request", {}),
    }
    for name, change in variants.items():
        bundle = copy.deepcopy(base)
        change(bundle)
        found.append(bundle)
    return found


def extensions(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("extension", "modifierExtension") and isinstance(value, list):
                yield from (v for v in value if isinstance(v, dict))
            yield from extensions(value)
    elif isinstance(node, list):
        for item in node:
            yield from extensions(item)


@pytest.mark.parametrize("key_and_expression", [BDL_3, BDL_4, BDL_7], ids=lambda k: k[0])
def test_bundle_invariant_twins_agree_with_fhirpath(key_and_expression):
    compiled = FhirPath().compile(key_and_expression[1], "test")
    twin = PYTHON_INVARIANTS[key_and_expression]
    verdicts = []
    for bundle in bundles():
        expected = is_true(compiled(bundle, bundle))
        assert twin(bundle) == expected, (key_and_expression[0], bundle.get("type"))
        verdicts.append(expected)
    assert True in verdicts and False in verdicts  # both outcomes were exercised


def test_ext_1_twin_agrees_with_fhirpath():
    compiled = FhirPath().compile(EXT_1[1], "test")
    samples = [e for b in bundles() for e in extensions(b)]
    samples += [{"url": "u"}, {"url": "u", "valueString": "x", "extension": [{"url": "v", "valueString": "y"}]}]
    verdicts = [is_true(compiled(typed_node(e, "Extension"), {})) for e in samples]
    assert [PYTHON_INVARIANTS[EXT_1](e) for e in samples] == verdicts
    assert True in verdicts and False in verdicts
