"""TDDUI 2.4.0 through the gateway into a HAPI loaded with 2.4.0 (its Spring profile
tddui-2.4.0: terminologies 1.11.1, the directory and MHD packages): the builder's 30-slice bundle
is stored by upsert within the legal entity and read back in scope."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest

from gateway.app import create_app
from tests.conftest import TEST_API_KEY, fresh_finess
from tests.release_2_4_0 import FILLED_SLICES, bundle_2_4_0

RELEASE_2_4_0 = "ans.fhir.fr.tddui#2.4.0"
FHIR_JSON = "application/fhir+json"
# the entries the 2.4.0 descriptor gives business identifiers; these are upserted
UPSERTED_SLICES = {"DUIPatientINS", "DUIPatient", "DUIOrganization", "DUIEncounterSejour", "DUIEncounterEvenement",
                   "DUIPractitioner", "DUIGoalProjetVie", "DUIGoalAttente", "DUIGoalObjectif",
                   "DUIServiceRequestBesoin", "DUIServiceRequestDemandeOrientation", "DUIObservationRepas",
                   "DUIObservationPeriodeScolaire", "DUISlotPresenceAbsence", "DUIBasicDroitDecision",
                   "DUICarePlanProjetPersonnalise", "DUITaskAction", "DUITaskBilan", "DUITaskMoyenRessource",
                   "DUITaskPrestation", "DUITransportUsager", "DUITransportProfessionnel"}


@pytest.fixture(scope="module")
def hapi_2_4_0(hapi_servers):
    return hapi_servers.get("h2", RELEASE_2_4_0)


@pytest.fixture(scope="module")
def gateway_2_4_0(settings, hapi_2_4_0):
    client = create_app(replace(settings, implementation_guide=RELEASE_2_4_0,
                                hapi_base_url=hapi_2_4_0.base_url)).test_client()
    client.environ_base["HTTP_X_API_KEY"] = TEST_API_KEY
    return client


def post(gateway, bundle: dict):
    return gateway.post("/", data=json.dumps(bundle), content_type=FHIR_JSON)


def errors(answer) -> list:
    return [(i.get("expression"), i.get("diagnostics")) for i in answer.get_json().get("issue", [])
            if i["severity"] in ("error", "fatal")]


def _record(location: str) -> str:
    """Type/id of a transaction-response location (Type/id/_history/n)."""
    return location.split("/_history")[0]


def test_hapi_installs_the_2_4_0_closure_in_dependency_order(hapi_2_4_0):
    """The release's own packages, the directory and MHD before TDDUI, which needs them."""
    log = hapi_2_4_0.log_path.read_text(errors="replace")
    order = [log.find(f"FHIR package {package} installed") for package in (
        "ans.fr.terminologies#1.11.1", "ans.fhir.fr.annuaire#1.1.0", "ihe.iti.mhd#4.2.0", "ans.fhir.fr.tddui#2.4.0")]
    assert -1 not in order, hapi_2_4_0.log_tail()
    assert max(order[:3]) < order[3]


def test_the_30_slice_bundle_is_stored_by_upsert_within_the_legal_entity_and_read_back(gateway_2_4_0):
    bundle = bundle_2_4_0(fresh_finess())
    first = post(gateway_2_4_0, bundle)
    assert first.status_code == 200, errors(first)
    answer = first.get_json()
    assert answer["type"] == "transaction-response"
    assert [e["response"]["status"] for e in answer["entry"]] == ["201 Created"] * 30

    resend = post(gateway_2_4_0, bundle)
    assert resend.status_code == 200, errors(resend)
    statuses = dict(zip(FILLED_SLICES, (e["response"]["status"] for e in resend.get_json()["entry"])))
    # an entry with a business identifier is found again unchanged; the others are plain creates
    assert {name for name, status in statuses.items() if status == "200 OK"} == UPSERTED_SLICES
    assert {name for name, status in statuses.items() if status == "201 Created"} == set(FILLED_SLICES) - UPSERTED_SLICES
    first_locations = dict(zip(FILLED_SLICES, (e["response"]["location"] for e in answer["entry"])))
    resend_locations = dict(zip(FILLED_SLICES, (e["response"]["location"] for e in resend.get_json()["entry"])))
    assert {name: _record(first_locations[name]) for name in UPSERTED_SLICES} \
        == {name: _record(resend_locations[name]) for name in UPSERTED_SLICES}
    # same record; a new version only where a reference names a plain create, stored again under a
    # new id (the slot's Schedule, the school period's RelatedPerson, the care plan's Consent): not
    # yet "nothing written" for those three
    new_versions = {name for name in UPSERTED_SLICES if not resend_locations[name].endswith("/_history/1")}
    assert new_versions == {"DUISlotPresenceAbsence", "DUIObservationPeriodeScolaire", "DUICarePlanProjetPersonnalise"}

    for name, location in first_locations.items():
        resource_type, resource_id = location.split("/")[:2]
        read = gateway_2_4_0.get(f"/{resource_type}/{resource_id}", headers={"Accept": FHIR_JSON})
        assert read.status_code == 200, (name, read.get_json())
        assert read.get_json()["meta"]["profile"][0].endswith(
            bundle["entry"][FILLED_SLICES.index(name)]["resource"]["meta"]["profile"][0].rpartition("/")[2])
