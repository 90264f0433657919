"""Fuzzing the running gateway from its own /openapi.json with schemathesis (seeded, short in CI).

Every generated request goes to the gateway in front of the session's real
HAPI, with the test producer's API key: no answer is a 5xx, and every 4xx is
an OperationOutcome (JSON or XML, as negotiated).
"""
from __future__ import annotations

import json
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.conftest import TEST_API_KEY
from tests.fuzz.bodies import fhir_xml
from tests.fuzz.harness import FUZZ_SEED, TOTAL_BODIES

EXAMPLES_PER_MODE = max(100, TOTAL_BODIES // 5)
answers_seen: Counter[str] = Counter()  # printed in the fuzzing summary (tests/fuzz/conftest.py)


@pytest.fixture(scope="session")
def openapi_operations(gateway_app) -> list:
    """Every operation of the gateway's own /openapi.json, loaded through the WSGI app."""
    schema = schemathesis.openapi.from_wsgi("/openapi.json", gateway_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10  # transaction, $validate x2, metadata, read and vread x3
    return operations


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=["valid", "invalid"])
@seed(FUZZ_SEED)
@settings(max_examples=EXAMPLES_PER_MODE, deadline=None, database=None, print_blob=False,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_no_5xx_and_every_4xx_is_an_operation_outcome(openapi_operations, running_hapi, mode, data):
    operation = data.draw(st.sampled_from(openapi_operations), label="operation")
    case = data.draw(operation.as_strategy(generation_mode=mode), label="case")
    response = case.call(headers={"X-API-Key": TEST_API_KEY})
    status = response.status_code
    answers_seen[f"{case.method} {operation.path} {status}"] += 1
    assert status < 500, f"{case.method} {case.formatted_path}: {status} {response.text[:1000]}"
    if status >= 400:
        media = (response.headers.get("content-type") or [""])[0].split(";")[0]  # schemathesis: lists
        assert media in ("application/fhir+json", "application/fhir+xml"), (status, dict(response.headers), case.as_curl_command())
        outcome = (json.loads(response.content) if media == "application/fhir+json"
                   else fhir_xml().parse_resource(response.content))
        assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"]
