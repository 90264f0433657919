"""The differential run, once per session, and its matrix printed at the end."""
from __future__ import annotations

import time

import pytest

from gateway.conformance import ConformanceEngine
from gateway.intake import Limits
from tests.mutation import differential

results: dict[str, object] = {}


@pytest.fixture(scope="session")
def outcomes(settings, hapi, request) -> list[differential.Outcome]:
    """Every mutant judged by the engine and by the session's HAPI (request validation on)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    with request.config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
        reporter.write_line(f"\nmutation run: MUTANTS={differential.MUTANTS}, MUTATION_SEED={differential.MUTATION_SEED}")
    started = time.monotonic()
    run = differential.run(ConformanceEngine.load(settings), hapi.base_url, Limits.of(settings))
    results.update(outcomes=run, seconds=time.monotonic() - started)
    if differential.REPORT_PATH:
        differential.write_report(run, differential.REPORT_PATH)
    return run


def pytest_terminal_summary(terminalreporter):
    if "outcomes" not in results:
        return
    outcomes = results["outcomes"]
    terminalreporter.section("mutation: gateway vs. HAPI")
    terminalreporter.write_line(differential.matrix(outcomes))
    terminalreporter.write_line(f"{len(outcomes)} mutants in {results['seconds']:.1f} s, "
                                f"MUTATION_SEED={differential.MUTATION_SEED} "
                                f"(long run: {differential.LONG_RUN_COMMAND})")
    for verdict in ("HAPI only", "HAPI 5xx", "gateway only"):
        lines = differential.classes(outcomes, verdict)
        if lines:
            terminalreporter.write_line(f"\n{verdict}, by class:")
            for line in lines:
                terminalreporter.write_line("  " + line)
    passed_5xx = [o for o in outcomes if o.verdict == "HAPI 5xx" and o.gateway_accepts]
    if passed_5xx:
        terminalreporter.write_line(f"\nHAPI 5xx on a bundle the gateway accepts: {len(passed_5xx)}")
