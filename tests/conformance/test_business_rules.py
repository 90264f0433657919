"""The business rules of docs/business-rules.md, each on a bundle that breaks
only it (as far as the profiles allow)."""
import copy
from pathlib import Path

from gateway.conformance.business_rules import BundleView, unique_business_identifiers
from gateway.outcome import operation_outcome
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


def _twin_patient(bundle: dict) -> dict:
    """A second patient entry carrying the first one's identifiers (another fullUrl and id)."""
    twin = copy.deepcopy(bundle["entry"][0])
    twin["fullUrl"] = "urn:uuid:8a6d2c1e-1111-4b2c-9d3e-4f5a6b7c8d9e"
    twin["resource"]["id"] = "patient-twin"
    bundle["entry"].append(twin)
    return twin


def test_two_patients_sharing_a_business_identifier_name_both_entries(engine, examples):
    bundle = v1(examples)
    _twin_patient(bundle)
    duplicates = [i for i in engine.judge(bundle).issues if i.rule == "BR-UNIQUE-BUSINESS-ID"]
    assert duplicates, "a bundle naming one patient twice must be refused"
    issue = duplicates[0]
    assert issue.blocking and issue.code == "duplicate"
    assert issue.expression.startswith("Bundle.entry[3].resource.identifier[")
    assert issue.related and issue.related[0].startswith("Bundle.entry[0].resource.identifier[")
    rendered = operation_outcome([issue])["issue"][0]["expression"]
    assert [e.split(".resource")[0] for e in rendered] == ["Bundle.entry[3]", "Bundle.entry[0]"]
    # one issue per pair of entries, however many identifiers they share
    assert len(duplicates) == 1


def test_twin_stays_are_refused_and_a_stay_alone_is_not(engine, examples):
    bundle = v1(examples)
    stay = copy.deepcopy(bundle["entry"][2])
    stay["fullUrl"] = "urn:uuid:8a6d2c1e-2222-4b2c-9d3e-4f5a6b7c8d9e"
    stay["resource"]["id"] = "stay-twin"
    bundle["entry"].append(stay)
    assert [(i.expression.split(".resource")[0], [r.split(".resource")[0] for r in i.related])
            for i in engine.judge(bundle).issues if i.rule == "BR-UNIQUE-BUSINESS-ID"] \
        == [("Bundle.entry[3]", ["Bundle.entry[2]"])]
    stay["resource"]["identifier"][0]["value"] = "another-stay"
    assert not [i for i in engine.judge(bundle).issues if i.rule == "BR-UNIQUE-BUSINESS-ID"]


def test_the_duplicate_check_is_linear_in_the_identifiers():
    """50,000 entries: each identifier is matched against its type's slices once, never against other entries."""
    calls = []

    class CountingPattern:
        def matches(self, identifier):
            calls.append(1)
            return True

    entries = [{"resource": {"resourceType": "Patient", "identifier": [{"system": "s", "value": str(n)}]}}
               for n in range(50_000)]
    entries.append({"resource": {"resourceType": "Patient", "identifier": [{"system": "s", "value": "7"}]}})
    view = BundleView({"entry": entries}, [], {}, [], lambda _: None, lambda _: False, None,
                      {"Patient": (CountingPattern(),)})
    found = list(unique_business_identifiers(view))
    assert len(calls) == len(entries)
    assert [expression for expression, _fr, _en in found] == [
        ("Bundle.entry[50000].resource.identifier[0]", "Bundle.entry[7].resource.identifier[0]")]


def test_every_release_refuses_two_entries_naming_one_record_while_hapi_does_not():
    """HAPI runs in mass ingestion mode (hapi-config/application.yaml), which no longer refuses two
    entries matching one record: every release's descriptor must carry the gateway's own check."""
    import tomllib

    from tests.cases import hapi_config

    for path in sorted(Path(REPO_ROOT, "gateway", "descriptors").glob("*.toml")):
        release = tomllib.loads(path.read_text(encoding="utf-8"))["package"]
        assert hapi_config(release)["hapi"]["fhir"]["mass_ingestion_mode_enabled"] is True, release
        rules = tomllib.loads(path.read_text(encoding="utf-8")).get("business_rules") or []
        assert "unique_business_identifiers" in {rule.get("check") for rule in rules}, path.name
