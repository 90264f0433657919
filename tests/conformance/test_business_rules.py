"""The business rules of docs/business-rules.md, each on a bundle that breaks
only it (as far as the profiles allow)."""
from pathlib import Path

from tests.cases import REPO_ROOT, TDDUI, v1


def refusals(verdict):
    return {(i.code, i.expression, i.rule) for i in verdict.issues if i.blocking}


def test_every_rule_is_documented_with_its_source(engine):
    text = Path(REPO_ROOT, "docs", "business-rules.md").read_text(encoding="utf-8")
    assert len(engine.business_rules) >= 6
    for rule in engine.business_rules:
        assert f"`{rule.row.id}`" in text, rule.row.id
        assert rule.row.source, rule.row.id


def test_empty_bundle_is_refused(engine, examples):
    bundle = v1(examples)
    bundle["entry"] = []
    assert ("business-rule", "Bundle", "BR-EMPTY") in refusals(engine.judge(bundle))
    del bundle["entry"]
    assert ("business-rule", "Bundle", "BR-EMPTY") in refusals(engine.judge(bundle))


def test_patient_with_ins_sent_as_tddui_patient_is_refused(engine, examples):
    bundle = v1(examples)
    bundle["entry"][0]["resource"]["meta"]["profile"] = [TDDUI + "tddui-patient"]
    assert ("business-rule", "Bundle.entry[0].resource.meta.profile", "BR-INS-PROFILE") in refusals(engine.judge(bundle))


def test_method_other_than_post_on_an_entry_outside_the_slices_is_refused(engine, examples):
    bundle = v1(examples)
    bundle["entry"][1]["resource"]["meta"]["profile"] = ["https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-organization"]
    bundle["entry"][1]["request"]["method"] = "DELETE"
    assert ("business-rule", "Bundle.entry[1].request.method", "BR-CREATE-ONLY") in refusals(engine.judge(bundle))


def test_urn_uuid_reference_must_match_a_full_url(engine, examples):
    bundle = v1(examples)
    bundle["entry"][2]["resource"]["serviceProvider"] = {"reference": "urn:uuid:7d1c7a0e-0000-4000-8000-000000000001"}
    assert ("not-found", "Bundle.entry[2].resource.serviceProvider.reference", "BR-REFERENCE-IN-BUNDLE") \
        in refusals(engine.judge(bundle))


def test_reference_by_full_url_resolves(engine, examples):
    bundle = v1(examples)
    bundle["entry"][2]["resource"]["serviceProvider"] = {"reference": bundle["entry"][1]["fullUrl"]}
    assert engine.judge(bundle).accepted


def test_duplicate_full_url_names_the_second_entry(engine, examples):
    bundle = v1(examples)
    # urn:uuid: a RESTful fullUrl naming another entry's resource is refused before (fhir-full-url)
    bundle["entry"][1]["fullUrl"] = bundle["entry"][2]["fullUrl"] = "urn:uuid:3f1c0f1e-5a3b-4c1d-9e2f-0a1b2c3d4e5f"
    assert ("business-rule", "Bundle.entry[2].fullUrl", "BR-UNIQUE-FULLURL") in refusals(engine.judge(bundle))
