"""Every example of every package in the closure: the gateway's engine and
HAPI (``$validate``, through the same tolerant request validation as a
submission) must give it the same verdict, except the differences below."""
from __future__ import annotations

from dataclasses import replace

import pytest
import requests

from gateway.conformance import ConformanceEngine
from gateway.packages import PackageSet
from tests.cases import RELEASE_2_0_0, SUITE_RELEASE, package_dir

IG = SUITE_RELEASE

# example -> (gateway accepts, HAPI accepts, why)
EXPECTED_DIFFERENCES = {
    "Patient-ExampleFRCorePatient001": (
        False, True, "its birth-place INSEE code is from TRE-R13-Commune, while the required ValueSet "
                     "fr-core-vs-insee-code includes TRE-R13-CommuneOM only: no code of another system can be in "
                     "it; HAPI does not know either code system and only warns"),
}


def _examples() -> list[tuple[str, str, str, dict]]:
    """(release, package, name, example): every package of the suite's closure; for 2.0.0, whose
    closure differs only by its TDDUI package, that package's own examples, on a HAPI loaded with it."""
    found = []
    for release, own_only in ((IG, False), (RELEASE_2_0_0, True)):
        packages = PackageSet.from_directory(package_dir(), [release])
        found += [(release, package.id, name, example) for package in packages.packages.values()
                  if not own_only or package.id == release for name, example in sorted(package.examples.items())]
    return found


EXAMPLES = _examples()


@pytest.fixture(scope="module")
def engines() -> dict:
    """One engine per release, compiled on first use."""
    return {}


def engine_for(engines: dict, settings, release: str) -> ConformanceEngine:
    if release not in engines:
        engines[release] = ConformanceEngine.load(replace(settings, implementation_guide=release))
    return engines[release]


def test_the_closure_has_examples():
    assert {(release, package_id) for release, package_id, _, _ in EXAMPLES} == {
        (IG, IG), (IG, "hl7.fhir.fr.core#2.1.0"), (RELEASE_2_0_0, RELEASE_2_0_0)}
    assert len(EXAMPLES) >= 22


@pytest.mark.parametrize("release, package_id, name, example", EXAMPLES,
                         ids=[f"{r.partition('#')[2]}:{p}/{n}" for r, p, n, _ in EXAMPLES])
def test_an_example_gets_the_verdict_hapi_gives_it(release, package_id, name, example, engines, settings,
                                                    hapi_servers):
    engine = engine_for(engines, settings, release)
    if example["resourceType"] == "Bundle":
        issues = engine.judge(example).issues
    else:
        issues = engine.judge_resource(example)
    gateway_accepts = not any(issue.blocking for issue in issues)
    hapi = hapi_servers.get("h2", release)
    answer = requests.post(f"{hapi.base_url}/{example['resourceType']}/$validate", json=example, timeout=300,
                           headers={"Content-Type": "application/fhir+json"})
    assert answer.status_code in (200, 412, 422), answer.text
    hapi_accepts = answer.status_code == 200
    expected = EXPECTED_DIFFERENCES.get(name, (hapi_accepts, hapi_accepts, ""))[:2]
    assert (gateway_accepts, hapi_accepts) == expected, (
        [(i.rule, i.expression, i.message.en) for i in issues if i.blocking],
        [i.get("diagnostics") for i in answer.json().get("issue", []) if i.get("severity") in ("error", "fatal")])
