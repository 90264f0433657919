"""Fuzzing the running gateway from its own /openapi.json with schemathesis (seeded, short in CI).

Every generated request goes to the gateway in front of the session's real
HAPI, with the test producer's API key: no answer is a 5xx, and every 4xx is
an OperationOutcome (JSON or XML, as negotiated).
"""
from __future__ import annotations

import json

import pytest
import schemathesis
from hypothesis import HealthCheck, seed, settings

from tests.conftest import TEST_API_KEY
from tests.fuzz.bodies import fhir_xml
from tests.fuzz.harness import FUZZ_SEED, TOTAL_BODIES

EXAMPLES_PER_OPERATION = max(10, TOTAL_BODIES // 50)


@pytest.fixture(scope="session")
def openapi_schema(gateway_app):
    return schemathesis.openapi.from_wsgi("/openapi.json", gateway_app)


schema = schemathesis.pytest.from_fixture("openapi_schema")


@schema.parametrize()
@seed(FUZZ_SEED)
@settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, print_blob=False,
          suppress_health_check=list(HealthCheck))
def test_no_5xx_and_every_4xx_is_an_operation_outcome(case, running_hapi):
    response = case.call(headers={"X-API-Key": TEST_API_KEY})
    status = response.status_code
    assert status < 500, f"{case.method} {case.formatted_path}: {status} {response.text[:1000]}"
    if status >= 400:
        media = response.headers.get("Content-Type", "").split(";")[0]
        assert media in ("application/fhir+json", "application/fhir+xml"), media
        outcome = (json.loads(response.content) if media == "application/fhir+json"
                   else fhir_xml().parse_resource(response.content))
        assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"]
