"""Dispatch and normalisation (gateway/normalise.py) as seen through judge()."""
import copy

import pytest

from tests.cases import TDDUI, v1, v2


def issues_with(verdict, rule):
    return [issue for issue in verdict.issues if issue.rule == rule]


def test_judge_leaves_the_callers_bundle_untouched(engine, examples):
    raw = copy.deepcopy(examples.bundle)
    for entry in raw["entry"]:
        entry["resource"].pop("meta")
    raw.pop("meta")
    before = copy.deepcopy(raw)
    verdict = engine.judge(raw)
    assert raw == before
    assert verdict.bundle is not raw and verdict.bundle != raw


def test_profile_names_in_request_url_become_resource_types_with_a_warning(engine, examples):
    verdict = engine.judge(copy.deepcopy(examples.bundle))
    assert verdict.accepted
    assert [e["request"]["url"] for e in verdict.bundle["entry"]] == ["Patient", "Organization", "Encounter"]
    warnings = issues_with(verdict, "gateway-request-url")
    assert [(w.severity, w.expression) for w in warnings] == [
        ("warning", f"Bundle.entry[{i}].request.url") for i in range(3)]


def test_missing_meta_profile_is_inferred_from_content_and_written(engine, examples):
    bundle = v1(examples)
    bundle.pop("meta")
    for entry in bundle["entry"]:
        entry["resource"].pop("meta")
    verdict = engine.judge(bundle)
    assert verdict.accepted, [i.message.en for i in verdict.issues if i.blocking]
    assert verdict.bundle["meta"]["profile"] == [TDDUI + "tddui-bundle"]
    assert [e["resource"]["meta"]["profile"] for e in verdict.bundle["entry"]] == [
        [TDDUI + "tddui-patient-ins"], [TDDUI + "tddui-organization"], [TDDUI + "tddui-encounter-sejour"]]
    assert len(issues_with(verdict, "gateway-infer-profile")) == 4


def test_patient_without_ins_and_without_profile_gets_tddui_patient(engine, examples):
    bundle = v2(examples)
    bundle["entry"][0]["resource"].pop("meta")
    verdict = engine.judge(bundle)
    assert verdict.accepted
    assert verdict.bundle["entry"][0]["resource"]["meta"]["profile"] == [TDDUI + "tddui-patient"]


def test_inferred_profile_is_checked(engine, examples):
    bundle = v2(examples)
    del bundle["entry"][0]["resource"]["meta"], bundle["entry"][0]["resource"]["_birthDate"]
    verdict = engine.judge(bundle)
    assert ("required", "Bundle.entry[0].resource.birthDate.extension") in [
        (i.code, i.expression) for i in verdict.issues if i.blocking]


@pytest.mark.parametrize("claimed", ["2.0.0", "9.9.9"])
def test_a_version_claim_of_another_release_is_refused_naming_both_versions(engine, examples, claimed):
    bundle = v1(examples)
    bundle["entry"][1]["resource"]["meta"]["profile"] = [TDDUI + "tddui-organization|2.0.0-ballot"]
    assert engine.judge(bundle).accepted
    bundle["entry"][0]["resource"]["meta"]["profile"] = [TDDUI + f"tddui-patient-ins|{claimed}"]
    verdict = engine.judge(bundle)
    [issue] = [i for i in verdict.issues if i.rule == "gateway-profile-version"]
    assert (issue.severity, issue.code, issue.expression) == (
        "error", "not-supported", "Bundle.entry[0].resource.meta.profile[0]")
    assert f"version {claimed}" in issue.message.en and "serves version 2.0.0-ballot" in issue.message.en
    assert f"version {claimed}" in issue.message.fr and "ans.fhir.fr.tddui#2.0.0-ballot" in issue.message.fr


def test_unknown_profile_url_is_an_error(engine, examples):
    bundle = v1(examples)
    bundle["entry"][1]["resource"]["meta"]["profile"] = ["https://example.org/StructureDefinition/other"]
    verdict = engine.judge(bundle)
    refused = {(i.code, i.expression, i.rule) for i in verdict.issues if i.blocking}
    assert ("not-supported", "Bundle.entry[1].resource.meta.profile[0]", "gateway-unknown-profile") in refused
    assert ("business-rule", "Bundle.entry[1].resource", "BR-FLUX1-PROFILES") in refused


@pytest.mark.parametrize("meta", ["tddui-organization", 5, {"profile": "not-a-list"}], ids=["string", "number", "profile-string"])
def test_a_malformed_meta_is_reported_not_repaired(engine, examples, meta):

    bundle = v1(examples)
    bundle["entry"][1]["resource"]["meta"] = meta
    verdict = engine.judge(bundle)
    assert not verdict.accepted
    assert verdict.bundle["entry"][1]["resource"]["meta"] == meta
    assert any(i.expression.startswith("Bundle.entry[1].resource.meta") and i.blocking for i in verdict.issues)


def test_bdl_8_without_full_url_says_the_full_url_is_missing(engine, examples):

    bundle = v1(examples)
    del bundle["entry"][1]["fullUrl"]
    issue = next(i for i in engine.judge(bundle).issues if i.rule == "bdl-8")
    assert "fullUrl missing" in issue.message.en and "fullUrl absent" in issue.message.fr
