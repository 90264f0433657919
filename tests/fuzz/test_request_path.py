"""Fuzzing the request path (intake, auth, TDDUI checks, forward) with generated bodies.

For every request, whatever its body and headers: the answer is one of the
documented refusals (never 500; a 5xx only from the HAPI stage), it comes
within the hang bound, and it is an OperationOutcome whose issues all have a
severity and a code, at least one of them blocking. Strategies that know the
answer in advance (a truncated body is 400, an accepted bundle meets the closed
HAPI port with 503...) check that too. Seed and size: tests/fuzz/harness.py.
"""
from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from tests.fuzz.bodies import REQUEST_STRATEGIES, fhir_xml
from tests.fuzz.harness import FUZZ_SEED, TOTAL_BODIES, crashed_checks, post_with_hang_guard

DOCUMENTED_STATUSES = {400, 401, 403, 406, 413, 415, 422, 502, 503, 504}
HAPI_STAGE_RULES = {"gateway-hapi-unreachable", "gateway-hapi-timeout", "gateway-hapi-unexpected"}
SEVERITIES = {"fatal", "error", "warning", "information"}
BODIES_PER_STRATEGY = math.ceil(TOTAL_BODIES / len(REQUEST_STRATEGIES))


def rule_of(issue: dict) -> str | None:
    codings = (issue.get("details") or {}).get("coding") or [{}]
    return codings[0].get("code")


@pytest.mark.parametrize("strategy", list(REQUEST_STRATEGIES))
@seed(FUZZ_SEED)
@settings(max_examples=BODIES_PER_STRATEGY, deadline=None, database=None, print_blob=False,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_every_answer_is_a_documented_refusal_with_an_operation_outcome(fuzzed_gateway, strategy, data):
    request = data.draw(REQUEST_STRATEGIES[strategy], label="request")
    response = post_with_hang_guard(fuzzed_gateway, request, strategy)
    status = response.status_code
    assert status in DOCUMENTED_STATUSES, f"{status}: {response.get_data(as_text=True)[:2000]}"

    assert response.mimetype in ("application/fhir+json", "application/fhir+xml")
    outcome = (json.loads(response.get_data()) if response.mimetype == "application/fhir+json"
               else fhir_xml().parse_resource(response.get_data()))
    assert outcome["resourceType"] == "OperationOutcome"
    issues = outcome["issue"]
    assert issues and all(issue.get("severity") in SEVERITIES and isinstance(issue.get("code"), str)
                          and issue["code"] for issue in issues), issues
    assert any(issue["severity"] in ("fatal", "error") for issue in issues), issues

    rules = [rule_of(issue) for issue in issues if issue["severity"] in ("fatal", "error")]
    crashed_checks.update(rule_of(issue) for issue in issues if issue["code"] == "exception")
    if status >= 500:
        assert set(rules) <= HAPI_STAGE_RULES, rules
    if request.expectation:
        assert request.expectation.holds(status, rules), \
            f"expected {request.expectation.description}, got {status} {rules}"
