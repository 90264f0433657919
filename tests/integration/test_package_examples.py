"""Every example of every package in the closure: the gateway's engine and
HAPI (``$validate``, through the same tolerant request validation as a
submission) must give it the same verdict, except the differences below."""
from __future__ import annotations

import pytest
import requests

from gateway.conformance import ConformanceEngine
from gateway.packages import PackageSet
from tests.cases import package_dir

IG = "ans.fhir.fr.tddui#2.0.0-ballot"

# example -> (gateway accepts, HAPI accepts, why)
EXPECTED_DIFFERENCES = {
    "Patient-ExampleFRCorePatient001": (
        False, True, "its birth-place INSEE code is from TRE-R13-Commune, while the required ValueSet "
                     "fr-core-vs-insee-code includes TRE-R13-CommuneOM only: no code of another system can be in "
                     "it; HAPI does not know either code system and only warns"),
}


def _examples() -> list[tuple[str, str, dict]]:
    packages = PackageSet.from_directory(package_dir(), [IG])
    return [(package.id, name, example) for package in packages.packages.values()
            for name, example in sorted(package.examples.items())]


EXAMPLES = _examples()


@pytest.fixture(scope="module")
def engine(settings) -> ConformanceEngine:
    return ConformanceEngine.load(settings)


def test_the_closure_has_examples():
    assert {package_id for package_id, _, _ in EXAMPLES} == {IG, "hl7.fhir.fr.core#2.1.0"}
    assert len(EXAMPLES) >= 17


@pytest.mark.parametrize("package_id, name, example", EXAMPLES, ids=[f"{p}/{n}" for p, n, _ in EXAMPLES])
def test_an_example_gets_the_verdict_hapi_gives_it(package_id, name, example, engine, hapi):
    if example["resourceType"] == "Bundle":
        issues = engine.judge(example).issues
    else:
        issues = engine.judge_resource(example)
    gateway_accepts = not any(issue.blocking for issue in issues)
    answer = requests.post(f"{hapi.base_url}/{example['resourceType']}/$validate", json=example, timeout=300,
                           headers={"Content-Type": "application/fhir+json"})
    assert answer.status_code in (200, 412, 422), answer.text
    hapi_accepts = answer.status_code == 200
    expected = EXPECTED_DIFFERENCES.get(name, (hapi_accepts, hapi_accepts, ""))[:2]
    assert (gateway_accepts, hapi_accepts) == expected, (
        [(i.rule, i.expression, i.message.en) for i in issues if i.blocking],
        [i.get("diagnostics") for i in answer.json().get("issue", []) if i.get("severity") in ("error", "fatal")])
