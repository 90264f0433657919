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
                                "ServiceRequest", "Slot", "Basic"}
    assert {p.system for p in identifiers["Encounter"]} == {"https://identifiant-medicosocial-sejour.esante.gouv.fr"}
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
