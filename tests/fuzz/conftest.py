"""The fuzzed gateway, and the seed and figures of the run printed around it."""
from __future__ import annotations

import time
from dataclasses import replace

import pytest

from gateway.app import create_app
from tests.fuzz.harness import (FUZZ_SEED, LONG_RUN_COMMAND, MAX_BODY_BYTES, MAX_ENTRIES, MAX_JSON_DEPTH,
                                TOTAL_BODIES, bodies_sent, crashed_checks)

CLOSED_PORT_HAPI = "http://127.0.0.1:9/fhir"  # nothing listens: an accepted bundle gets 503
fuzz_started: list[float] = []


@pytest.fixture(scope="session")
def fuzzed_gateway(settings, request):
    """A client of the gateway with HAPI on a closed port; announces the seed first."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    with request.config.pluginmanager.get_plugin("capturemanager").global_and_fixture_disabled():
        reporter.write_line(f"\nfuzzing the request path: FUZZ_SEED={FUZZ_SEED}, FUZZ_EXAMPLES={TOTAL_BODIES} bodies")
    fuzz_started.append(time.monotonic())
    app = create_app(replace(settings, hapi_base_url=CLOSED_PORT_HAPI, hapi_connect_timeout=2.0,
                             max_body_bytes=MAX_BODY_BYTES, max_entries=MAX_ENTRIES,
                             max_json_depth=MAX_JSON_DEPTH))
    return app.test_client()


def pytest_terminal_summary(terminalreporter):
    from tests.fuzz.test_openapi import answers_seen
    if answers_seen:
        terminalreporter.section("schemathesis: answers by operation and status")
        for label, count in sorted(answers_seen.items()):
            terminalreporter.write_line(f"{count:7d}  {label}")
    if not bodies_sent:
        return
    seconds = time.monotonic() - fuzz_started[0]
    terminalreporter.section("fuzzing")
    for strategy, count in bodies_sent.items():
        terminalreporter.write_line(f"{count:7d}  {strategy}")
    terminalreporter.write_line(f"{sum(bodies_sent.values()):7d}  bodies in {seconds:.1f} s, FUZZ_SEED={FUZZ_SEED} "
                                f"(replay: FUZZ_SEED={FUZZ_SEED} FUZZ_EXAMPLES={TOTAL_BODIES}; "
                                f"long run: {LONG_RUN_COMMAND})")
    if crashed_checks:
        terminalreporter.write_line(
            f"{sum(crashed_checks.values()):7d}  engine checks raised (reported as 'exception' issues): "
            + ", ".join(f"{rule} x{count}" for rule, count in crashed_checks.most_common(10)))
