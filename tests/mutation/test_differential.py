"""Mutants of valid TDDUI bundles: whatever HAPI refuses, the gateway must refuse first.

The run itself is the session fixture ``outcomes`` (tests/mutation/conftest.py);
its matrix per operator is printed at the end of the session. ``MUTANTS``
(default a few hundred) and ``MUTATION_SEED`` choose the run; the long run is
``MUTANTS=3000 MUTATION_REPORT=mutants.jsonl scripts/test tests/mutation -q``
(the report: one JSON line per mutant, its bundle and both verdicts).
"""
from __future__ import annotations

import requests

from gateway.conformance import ConformanceEngine
from gateway.intake import Limits
from tests.mutation import differential
from tests.mutation.operators import OPERATORS, mutants


def test_the_baselines_are_accepted_by_both(settings, hapi):
    """The mutants start from bundles both judges accept, so each difference is the mutation's."""
    engine = ConformanceEngine.load(settings)
    for number, (name, bundle) in enumerate(differential.baselines().items()):
        body = differential.personalised(bundle, 1_000_000 + number)
        accepted, rules, _, forwarded = differential.gateway_side(engine, body, Limits.of(settings))
        assert accepted, (name, rules)
        with requests.Session() as session:
            status, message = differential.hapi_side(session, hapi.base_url, forwarded)
        assert status == 200, (name, status, message)


def test_the_generator_is_seeded_and_covers_every_operator():
    first = mutants(differential.baselines(), 3 * len(OPERATORS), seed=7)
    again = mutants(differential.baselines(), 3 * len(OPERATORS), seed=7)
    other = mutants(differential.baselines(), 3 * len(OPERATORS), seed=8)
    assert [m.bundle for m in first] == [m.bundle for m in again]
    assert [m.bundle for m in first] != [m.bundle for m in other]
    assert {m.operator for m in first} == set(OPERATORS)
    originals = list(differential.baselines().values())
    assert all(m.bundle not in originals for m in first)


def test_every_mutant_got_both_verdicts(outcomes):
    assert len(outcomes) == differential.MUTANTS
    no_answer = [o for o in outcomes if o.hapi_status == 0]
    assert not no_answer, differential.findings(outcomes, "HAPI 5xx")[:5]


def test_the_engine_never_crashes_on_a_mutant(outcomes):
    """A check that raises is reported as an 'exception' issue (never a 500), but it is a gap all the same."""
    crashed = [f"[{o.mutant.operator}] {o.mutant.description}" for o in outcomes if o.gateway_crashed]
    assert not crashed, crashed[:10]


def test_the_run_exercises_both_verdicts(outcomes):
    """A run where nothing is refused (or nothing accepted) would prove nothing."""
    verdicts = {o.verdict for o in outcomes}
    assert {"both refuse", "both accept"} <= verdicts


def test_no_mutant_refused_by_hapi_gets_past_the_gateway(outcomes):
    """The gateway is the first and strictest judge: what HAPI's validator refuses, it refused already."""
    hapi_only = differential.findings(outcomes, "HAPI only", limit=10)
    assert not hapi_only, "\n".join(hapi_only)


def test_the_gateway_refuses_every_mutant_that_makes_hapi_fail(outcomes):
    """A HAPI 5xx must never reach a producer: the gateway refuses that bundle itself."""
    passed = [f"[{o.mutant.operator}] {o.mutant.description} -> HAPI {o.hapi_status}: {o.hapi_message[:120]}"
              for o in outcomes if o.verdict == "HAPI 5xx" and o.gateway_accepts]
    assert not passed, "\n".join(passed)
