"""Engine properties: start-up gate, robustness, determinism, process workers."""
import copy
from concurrent.futures import ProcessPoolExecutor

import pytest

from gateway.config import Settings
from gateway.conformance import ConformanceEngine, EngineStartupError
from gateway.conformance.fhirpath import FhirPath, typed_node
from gateway.conformance.structure import Invariant
from gateway.descriptor import load_descriptor
from gateway.packages import PackageSet
from tests.cases import CASES, load_examples, package_dir, v1

IG = Settings.from_env().implementation_guide
ENCOUNTER = "https://interop.esante.gouv.fr/ig/fhir/tddui/StructureDefinition/tddui-encounter-sejour"


@pytest.mark.parametrize("expression", [
    "name.given garbage",                        # fhirpathpy would return the names
    "gender = 'male' or or birthDate.exists()",  # fhirpathpy would return [true]
    "identifier.where(system = 'x'.exists()",    # unbalanced
])
def test_syntax_that_fhirpathpy_repairs_is_refused(expression):
    with pytest.raises(EngineStartupError, match="syntax error"):
        FhirPath().compile(expression, "test")


def test_function_fhirpathpy_lacks_is_refused_at_compile_time():
    with pytest.raises(EngineStartupError, match="memberOf"):
        FhirPath().compile("code.memberOf('http://x')", "test")


def test_has_value_is_provided():
    per_1 = FhirPath().compile("start.hasValue().not() or end.hasValue().not() or (start <= end)", "test")
    assert per_1(typed_node({"start": "2023-04-14", "end": "2023-04-01"}, "Period"), {}) == [False]
    assert per_1(typed_node({"start": "2023-04-14"}, "Period"), {}) == [True]


def test_a_broken_invariant_in_a_package_stops_start_up():
    packages = PackageSet.from_directory(package_dir(), [IG])
    broken = copy.deepcopy(packages.get(ENCOUNTER))
    broken["snapshot"]["element"][0]["constraint"][0]["expression"] = "contained.contained.empty( and"
    packages.override(broken)
    with pytest.raises(EngineStartupError, match="tddui-encounter-sejour Encounter constraint dom-2"):
        ConformanceEngine(packages, load_descriptor(IG, packages))


def test_missing_package_directory_stops_start_up(tmp_path):
    with pytest.raises(EngineStartupError, match="does not exist"):
        ConformanceEngine.load(Settings(package_dir=tmp_path / "none", implementation_guide=IG))


@pytest.mark.parametrize("garbage", [
    {},
    {"resourceType": "Bundle", "type": "transaction", "entry": "not a list"},
    {"resourceType": "Bundle", "type": "transaction", "entry": [None, 3, {"resource": 5}, {"resource": {}}]},
    {"resourceType": "Bundle", "type": ["transaction"], "meta": "x", "entry": [{"resource": {"resourceType": "Patient",
                                                                                               "meta": {"profile": 7}}}]},
])
def test_judge_refuses_garbage_without_raising_or_crashing(engine, garbage):
    verdict = engine.judge(garbage)
    assert not verdict.accepted
    assert not [issue for issue in verdict.issues if issue.code == "exception"]


def test_a_check_that_crashes_becomes_an_error_naming_its_rule(examples):
    engine = ConformanceEngine.load(Settings(package_dir=package_dir(), implementation_guide=IG))
    root = engine.profiles.tree(ENCOUNTER)

    def explode(_element):
        raise ZeroDivisionError("boom")
    root.invariants = root.invariants + (Invariant("test-crash", "error", "always crashes", "n/a", python=explode),)
    verdict = engine.judge(next(c for c in CASES if c.id == "V1").build(examples))
    crashed = [i for i in verdict.issues if i.code == "exception"]
    assert [(i.severity, i.rule, i.expression) for i in crashed] == [("error", "test-crash", "Bundle.entry[2].resource")]
    assert not verdict.accepted


def _issue_keys(verdict):
    return [(i.severity, i.code, i.expression, i.rule, i.message.en) for i in verdict.issues]


def test_judge_is_deterministic(engine, examples):
    for case in CASES:
        built = case.build(examples)
        if isinstance(built, dict) and built.get("resourceType") == "Bundle":
            assert _issue_keys(engine.judge(copy.deepcopy(built))) == _issue_keys(engine.judge(copy.deepcopy(built)))


_worker_engine = None


def _load_in_worker(directory):
    global _worker_engine
    _worker_engine = ConformanceEngine.load(Settings(package_dir=directory, implementation_guide=IG))


def _judge_in_worker(bundle):
    return _issue_keys(_worker_engine.judge(bundle))


def test_process_workers_reach_the_same_verdicts(engine, examples):
    """What gunicorn's sync workers do: one engine per process."""
    bundles = [c.build(examples) for c in CASES if c.id in ("V1", "V4", "I22", "I33", "I38", "I17")]
    with ProcessPoolExecutor(max_workers=2, initializer=_load_in_worker, initargs=(package_dir(),)) as pool:
        remote = list(pool.map(_judge_in_worker, bundles))
    assert remote == [_issue_keys(engine.judge(b)) for b in bundles]


def test_ig_examples_are_loaded_from_the_package_not_the_repo():
    examples = load_examples()
    assert examples.bundle["id"] == "ExampleTDDUIBundle" and examples.patient["id"] == "tddui-patient-example"


def test_an_extension_definition_is_checked_at_every_position_it_occurs(engine, examples):
    """The walker checks an extension against its definition once per position
    (a slice and its unsliced element both lead there): the same broken
    extension at two positions is reported at both."""
    bundle = v1(examples)
    patient = bundle["entry"][0]["resource"]
    patient["name"][0]["extension"][0]["extension"] = [{"url": "http://example.org/x", "valueString": "y"}]
    patient["name"][1]["extension"] = copy.deepcopy(patient["name"][0]["extension"])
    found = {(i.code, i.expression, i.rule) for i in engine.judge(bundle).issues}
    for name in ("name[0]", "name[1]"):
        where = f"Bundle.entry[0].resource.{name}.extension[0]"
        assert ("invariant", where, "ext-1") in found
        assert ("structure", f"{where}.extension", "Extension.extension") in found


def test_a_release_whose_package_is_missing_stops_start_up_naming_it():
    with pytest.raises(EngineStartupError, match=r"ans\.fhir\.fr\.tddui#2\.1\.0 not found in"):
        ConformanceEngine.load(Settings(package_dir=package_dir(), implementation_guide="ans.fhir.fr.tddui#2.1.0"))
