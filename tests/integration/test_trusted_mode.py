"""HAPI_REQUEST_VALIDATION=trusted: HAPI stores what the gateway forwards without re-validating it.

One HAPI is started here in trusted mode beside the session's (full mode,
the default). The probe is a bundle HAPI's validator refuses: a stay from
``2023-04-14`` to ``2023-04-14T12:00:00+01:00``, which HAPI's ``per-1`` calls an
end before the start. The gateway refuses it too (``fhir-period-precision``),
so it is changed here after the gateway's checks, as the other probes are.
Trusted mode must still keep the server's own rules: its parser, atomic
transactions, references that resolve.
"""
from __future__ import annotations

import copy

import pytest
import requests

from gateway.conformance import ConformanceEngine
from tests.hapi_server import HapiServer

FHIR_JSON = {"Content-Type": "application/fhir+json", "Prefer": "return=minimal"}


@pytest.fixture(scope="module")
def trusted_hapi(tmp_path_factory):
    server = HapiServer(tmp_path_factory.mktemp("hapi-trusted"), extra_env={"HAPI_REQUEST_VALIDATION": "trusted"})
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def engine(settings) -> ConformanceEngine:
    return ConformanceEngine.load(settings)


def forwarded(engine, bundle: dict) -> dict:
    """The bundle as the gateway forwards it; the gateway must accept it."""
    verdict = engine.judge(bundle)
    assert verdict.accepted, [issue.message.en for issue in verdict.issues if issue.blocking]
    return verdict.bundle


def stay_count(hapi, bundle: dict) -> int:
    identifier = bundle["entry"][2]["resource"]["identifier"][0]
    return hapi.count("Encounter", identifier=f"{identifier['system']}|{identifier['value']}")


def same_day_end(bundle: dict) -> dict:
    bundle["entry"][2]["resource"]["period"] = {"start": "2023-04-14", "end": "2023-04-14T12:00:00+01:00"}
    return bundle


def test_trusted_hapi_stores_what_its_validator_would_refuse(trusted_hapi, engine, fresh_bundle):
    bundle = same_day_end(forwarded(engine, fresh_bundle))
    answer = requests.post(f"{trusted_hapi.base_url}/", json=bundle, headers=FHIR_JSON, timeout=180)
    assert answer.status_code == 200, answer.text[:500]
    assert stay_count(trusted_hapi, bundle) == 1


def test_full_mode_hapi_refuses_it_and_stores_nothing(hapi, engine, fresh_bundle):
    bundle = same_day_end(forwarded(engine, fresh_bundle))
    assert "fhir-period-precision" in {issue.rule for issue in engine.judge(copy.deepcopy(bundle)).issues}
    answer = requests.post(f"{hapi.base_url}/", json=bundle, headers=FHIR_JSON, timeout=180)
    assert answer.status_code == 422, answer.text[:500]
    assert "per-1" in answer.text
    assert stay_count(hapi, bundle) == 0


def test_trusted_hapi_still_enforces_referential_integrity_atomically(trusted_hapi, engine, fresh_bundle):
    """A reference to a resource that exists nowhere fails the whole transaction: nothing is stored."""
    bundle = forwarded(engine, fresh_bundle)
    bundle["entry"][2]["resource"]["subject"] = {"reference": "Patient/not-stored-anywhere"}
    answer = requests.post(f"{trusted_hapi.base_url}/", json=bundle, headers=FHIR_JSON, timeout=180)
    assert answer.status_code in (400, 404, 422), answer.text[:500]
    assert stay_count(trusted_hapi, bundle) == 0
    patient = bundle["entry"][0]["resource"]["identifier"][0]
    assert trusted_hapi.count("Patient", identifier=f"{patient['system']}|{patient['value']}") == 0


def test_trusted_hapi_still_parses_strictly(trusted_hapi, engine, fresh_bundle):
    """HAPI's parser, not its validator, refuses a code outside an R4 enumeration (400), in both modes.

    The gateway refuses such a code itself now; it is set here after the gateway's checks.
    """
    bundle = forwarded(engine, fresh_bundle)
    bundle["entry"][2]["resource"]["status"] = "bogus"
    answer = requests.post(f"{trusted_hapi.base_url}/", json=bundle, headers=FHIR_JSON, timeout=180)
    assert answer.status_code == 400, answer.text[:500]
    assert "EncounterStatus" in answer.text
    assert stay_count(trusted_hapi, bundle) == 0


def test_trusted_mode_is_announced_in_hapis_log(trusted_hapi):
    assert "TDDUI request validation OFF" in trusted_hapi.log_path.read_text(errors="replace")
