#!/usr/bin/env python3
"""Run the official FHIRPath R4 test suite against fhirpathpy *as the
conformance engine configures it*: the engine's strict syntax gate, its added
FHIR functions (hasValue, htmlChecks) and its short-circuit evaluation.

The suite and its reference runner are read from the shared folder
(``--suite-dir``, default ../shared/fhirpath-suite), never copied here; this
script only swaps the runner's ``fhirpathpy.compile`` for the engine's.

    .venv/bin/python scripts/fhirpath_suite.py [--suite-dir DIR] [--functions where,exists] [-v]
"""
from __future__ import annotations

import argparse
import collections
import importlib.util
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import fhirpathpy

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from gateway.conformance.fhirpath import OPTIONS, FhirPath, function_names  # noqa: E402
from fhirpathpy.parser import parse  # noqa: E402

DEFAULT_SUITE_DIR = REPO_ROOT.parent / "shared" / "fhirpath-suite"


class EngineFhirPath:
    """Stands in for the ``fhirpathpy`` module inside the reference runner."""

    __version__ = fhirpathpy.__version__

    def __init__(self):
        self._engine = FhirPath()

    def compile(self, expression, model=None, options=None):
        compiled = self._engine.compile(expression, "FHIRPath suite")  # gate + engine evaluation
        if options and options.get("returnRawData"):
            # the runner's second call only reads result *types*: plain fhirpathpy, same functions
            return fhirpathpy.compile(expression, model, {**OPTIONS, **options})
        return compiled.evaluate


def load_runner(suite_dir: Path):
    spec = importlib.util.spec_from_file_location("fhirpath_suite_runner", suite_dir / "run_suite.py")
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    runner.fhirpathpy = EngineFhirPath()
    return runner


def run_suite(suite_dir: Path = DEFAULT_SUITE_DIR) -> list[dict]:
    """One record per suite test (the reference runner's format)."""
    runner = load_runner(suite_dir)
    suite = ET.fromstring(runner.git_show(str(suite_dir), runner.SUITE_PATH))
    cache: dict = {}
    return [runner.run_test(group.get("name"), test, str(suite_dir), cache)
            for group in suite.findall("group") for test in group.findall("test")]


def functions_called(expression: str) -> set[str]:
    try:
        return function_names(parse(expression))
    except Exception:  # noqa: BLE001 - invalid="syntax" tests do not parse
        return set()


def tests_of(records: list[dict], function: str) -> list[dict]:
    """The suite tests whose expression calls ``function`` (and that could run)."""
    return [r for r in records if r["status"] != "not run" and function in functions_called(r["expression"])]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite-dir", type=Path, default=DEFAULT_SUITE_DIR)
    parser.add_argument("--functions", default="", help="comma-separated functions to report on")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every non-passing test")
    args = parser.parse_args(argv)
    records = run_suite(args.suite_dir)
    status = collections.Counter(r["status"] for r in records)
    ran = len(records) - status["not run"]
    print(f"fhirpathpy {fhirpathpy.__version__} as configured by the engine: {len(records)} tests, {ran} run, "
          f"{status['passed']} passed, {status['failed']} failed, {status['errored']} errored, "
          f"{status['not run']} not run")
    print(f"pass rate: {status['passed'] / ran:.1%} of run tests, {status['passed'] / len(records):.1%} of all")
    for function in filter(None, args.functions.split(",")):
        found = tests_of(records, function)
        passed = sum(r["status"] == "passed" for r in found)
        print(f"  {function}(): {passed}/{len(found)} suite tests pass")
    if args.verbose:
        for r in records:
            if r["status"] not in ("passed", "not run"):
                print(f"[{r['status']}] {r['group']}/{r['name']}: {r['expression']!r} -> {r.get('detail')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
