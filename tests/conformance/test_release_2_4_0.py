"""TDDUI 2.4.0, the current release, in the engine: its descriptor, its closure, its rules.

2.4.0 is selectable with TDDUI_IG but not yet the default (its descriptor says `incomplete`)."""
from __future__ import annotations

import json

import pytest

from gateway.cli import main
from gateway.config import Settings
from gateway.conformance import ConformanceEngine
from gateway.conformance.structure import ProfileSet
from tests.cases import package_dir
from tests.release_2_4_0 import FILLED_SLICES, bundle_2_4_0

RELEASE_2_4_0 = "ans.fhir.fr.tddui#2.4.0"


@pytest.fixture(scope="module")
def engine_2_4_0() -> ConformanceEngine:
    return ConformanceEngine.load(Settings(package_dir=package_dir(), implementation_guide=RELEASE_2_4_0))


def test_the_engine_compiles_every_entry_profile_of_the_thirty_bundle_slices(engine_2_4_0):
    assert engine_2_4_0.descriptor.package == RELEASE_2_4_0
    assert len(engine_2_4_0.entry_profiles) == 30  # one profile per slice
    assert all(url in engine_2_4_0.profiles.trees for url in engine_2_4_0.entry_profiles)
    assert engine_2_4_0.profiles.unresolved <= set(engine_2_4_0.descriptor.tolerated)


def test_the_closure_brings_the_directory_and_mhd_and_the_newer_terminologies(engine_2_4_0):
    assert set(engine_2_4_0.packages.packages) == set(engine_2_4_0.descriptor.closure)
    assert {"ans.fr.terminologies#1.11.1", "ans.fhir.fr.annuaire#1.1.0", "ihe.iti.mhd#4.2.0"} \
        <= set(engine_2_4_0.packages.packages)


def test_the_tolerated_gaps_are_exactly_the_bound_value_sets_no_package_has(engine_2_4_0):
    """Every required or extensible binding of a compiled profile whose ValueSet is in no package
    of the closure is listed, with why, and nothing else is."""
    missing = {rule.value_set for tree in engine_2_4_0.profiles.trees.values()
               for rule in ProfileSet.all_rules(tree)
               if rule.value_set and rule.binding_strength in ("required", "extensible")
               and not engine_2_4_0.packages.has(rule.value_set)}
    assert missing == set(engine_2_4_0.descriptor.tolerated)
    assert all(why for why in engine_2_4_0.descriptor.tolerated.values())


def test_business_identifiers_come_from_the_slices_of_the_package(engine_2_4_0):
    identifiers = engine_2_4_0.descriptor.business_identifiers
    assert set(identifiers) == {"Patient", "Organization", "Encounter", "Practitioner", "Goal", "Observation",
                                "ServiceRequest", "Slot", "Basic", "CarePlan", "Task"}
    # an unsliced identifier whose system the profile fixes names the record too
    assert "https://identifiant-medicosocial-projetpersonnalise.esante.gouv.fr" in {
        p.system for p in identifiers["CarePlan"]}
    assert len({p.system for p in identifiers["Task"]}) == 6
    assert {p.system for p in identifiers["Encounter"]} == {"https://identifiant-medicosocial-sejour.esante.gouv.fr",
                                                           "https://identifiant-medicosocial-evenement.esante.gouv.fr"}
    assert "https://identifiant-medicosocial-localusager.esante.gouv.fr" in {p.system for p in identifiers["Patient"]}
    assert [p.name for p in identifiers["ServiceRequest"]] == ["idBesoin", "idDemandeOrientation"]


def test_the_default_release_stays_2_0_0_while_2_4_0_is_incomplete():
    assert Settings().implementation_guide == "ans.fhir.fr.tddui#2.0.0"


def test_the_cli_prints_the_2_4_0_rules(capsys):
    assert main(["rules", "--ig", RELEASE_2_4_0]) == 0
    rules = json.loads(capsys.readouterr().out)
    assert rules["package"] == RELEASE_2_4_0
    assert "http://hl7.org/fhir/5.0/StructureDefinition/extension-Consent.period" in rules["cross_version"]
    assert len(rules["tolerated"]) == 41  # 40 NOS/SMT value sets bound required, J78 extensible


# ------------------------------------------------------------------ the 2.4.0 bundle builder
def _entry(bundle: dict, slice_name: str) -> dict:
    """The resource of ``slice_name`` in a bundle_2_4_0() bundle (entries follow FILLED_SLICES)."""
    return bundle["entry"][FILLED_SLICES.index(slice_name)]["resource"]


def _blocking(engine: ConformanceEngine, bundle: dict) -> set[tuple[str, str]]:
    return {(issue.rule, issue.expression) for issue in engine.judge(bundle).issues if issue.blocking}


def test_the_builder_fills_every_slice_and_the_engine_accepts_it(engine_2_4_0):
    bundle = bundle_2_4_0()
    profiles = {entry["resource"]["meta"]["profile"][0] for entry in bundle["entry"]}
    assert len(FILLED_SLICES) == len(bundle["entry"]) == len(profiles) == 30
    assert profiles == set(engine_2_4_0.entry_profiles)
    verdict = engine_2_4_0.judge(bundle)
    assert verdict.accepted, [(i.rule, i.expression, i.message.en) for i in verdict.issues if i.blocking]


def test_a_code_under_a_value_set_no_package_has_is_a_warning_never_silence(engine_2_4_0):
    """jdv-j405 (SMT) is bound required on Slot.serviceType and is in no package: the code is
    neither refused nor passed as checked; a code under J226 (in the 1.11.1 subset) is checked."""
    issues = engine_2_4_0.judge(bundle_2_4_0()).issues
    slot = f"Bundle.entry[{FILLED_SLICES.index('DUISlotPresenceAbsence')}].resource.serviceType[0]"
    unchecked = [i for i in issues if i.expression == slot]
    assert [(i.severity, "jdv-j405-type-presence-absence-ms" in i.message.en) for i in unchecked] == [("warning", True)]
    bundle = bundle_2_4_0()
    _entry(bundle, "DUIEncounterSejour")["serviceType"]["coding"][0]["code"] = "not-a-J226-code"
    stay = FILLED_SLICES.index("DUIEncounterSejour")
    assert ("Encounter.serviceType", f"Bundle.entry[{stay}].resource.serviceType") in _blocking(engine_2_4_0, bundle)


def _stay_without_its_stay_identifier(bundle):
    _entry(bundle, "DUIEncounterSejour")["identifier"][0]["type"]["coding"][0]["code"] = "NUMDOSS"


def _local_patient_id_elsewhere(bundle):
    _entry(bundle, "DUIPatient")["identifier"][0]["system"] = "urn:oid:1.2.250.1.999"


def _need_identifier_without_the_guide_format(bundle):
    _entry(bundle, "DUIServiceRequestBesoin")["identifier"][0]["value"] = "BESOIN-1"


def _objective_without_its_title(bundle):
    _entry(bundle, "DUIGoalObjectif")["note"][0]["extension"][0]["valueCodeableConcept"]["coding"][0]["code"] \
        = "avisUsagerObjectif"


def _school_referent_who_is_not_a_contact(bundle):
    _entry(bundle, "DUIObservationPeriodeScolaire")["performer"] = [
        {"reference": bundle["entry"][FILLED_SLICES.index("DUIPractitioner")]["fullUrl"]}]


def _consent_period_as_a_date(bundle):
    _entry(bundle, "DUIConsentAccord")["extension"] = [
        {"url": "http://hl7.org/fhir/5.0/StructureDefinition/extension-Consent.period", "valueDateTime": "2023-04-14"}]


def _decision_without_its_decision(bundle):
    del _entry(bundle, "DUIBasicDroitDecision")["extension"]


def _patient_without_birth_date(bundle):
    """birthDate and its extensions: an element with extensions only is present (FHIR)."""
    del _entry(bundle, "DUIPatient")["birthDate"], _entry(bundle, "DUIPatient")["_birthDate"]


@pytest.mark.parametrize("slice_name, break_it, rule, element", [
    ("DUIEncounterSejour", _stay_without_its_stay_identifier, "Encounter.identifier:idStay", "identifier"),
    ("DUIPatient", _local_patient_id_elsewhere, "Patient.identifier:PI.system", "identifier[0].system"),
    ("DUIServiceRequestBesoin", _need_identifier_without_the_guide_format,
     "ServiceRequestBesoinIdentifierFormat", "identifier[0].value"),
    ("DUIGoalObjectif", _objective_without_its_title, "Goal.note:titreObjectif", "note"),
    ("DUIObservationPeriodeScolaire", _school_referent_who_is_not_a_contact,
     "Observation.performer:referentScolaire", "performer"),
    ("DUIConsentAccord", _consent_period_as_a_date, "Extension.value[x]", "extension[0].value"),
    ("DUIBasicDroitDecision", _decision_without_its_decision, "Basic.extension:TDDUIDecision", "extension"),
    ("DUIPatient", _patient_without_birth_date, "Patient.birthDate", "birthDate"),
], ids=lambda value: value.__name__ if callable(value) else None)
def test_a_broken_2_4_0_resource_is_refused_at_its_element(engine_2_4_0, slice_name, break_it, rule, element):
    bundle = bundle_2_4_0()
    break_it(bundle)
    where = f"Bundle.entry[{FILLED_SLICES.index(slice_name)}].resource.{element}"
    assert (rule, where) in _blocking(engine_2_4_0, bundle)
