"""Every case of tests/cases.py, offline: intake -> normalise -> engine, as the
gateway does, and the HTTP status the gateway derives from it."""
import pytest

from gateway.intake import Rejected, parse_bundle
from tests.cases import CASES, JSON

OFFLINE = [case for case in CASES if case.content_type == JSON]


def verdict_of(engine, body: bytes):
    """(status, issues) as the gateway would answer, without HAPI."""
    try:
        bundle = parse_bundle(body)
    except Rejected as refusal:
        return refusal.status, refusal.issues
    verdict = engine.judge(bundle)
    return (200 if verdict.accepted else 422), verdict.issues


def test_only_the_content_type_case_needs_http():
    assert [case.id for case in CASES if case not in OFFLINE] == ["I01"]
    assert len([c for c in CASES if not c.accepted]) == 40 and len([c for c in CASES if c.accepted]) >= 5


@pytest.mark.parametrize("case", OFFLINE, ids=[case.id for case in OFFLINE])
def test_case(engine, examples, case):
    status, issues = verdict_of(engine, case.body(examples))
    blocking = [(i.code, i.severity, i.expression) for i in issues if i.blocking]
    if case.accepted:
        assert status == 200, blocking
        return
    assert status == case.status, blocking
    assert (case.code, case.severity, case.expression) in [(i.code, i.severity, i.expression) for i in issues], blocking
