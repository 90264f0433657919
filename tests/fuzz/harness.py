"""Fuzzing set-up shared by the fuzz tests and their conftest: seed, budget, limits,
the hang guard and the tally of bodies sent.

``FUZZ_SEED`` picks the seed (a fixed default, so every run is the same);
``FUZZ_EXAMPLES`` the total number of bodies, shared out between the strategies.
"""
from __future__ import annotations

import os
import signal
from collections import Counter
from dataclasses import dataclass
from typing import Callable

DEFAULT_SEED = 20240917
DEFAULT_TOTAL_BODIES = 1500
FUZZ_SEED = int(os.environ.get("FUZZ_SEED") or DEFAULT_SEED)
TOTAL_BODIES = int(os.environ.get("FUZZ_EXAMPLES") or DEFAULT_TOTAL_BODIES)
LONG_RUN_COMMAND = "FUZZ_EXAMPLES=10000 .venv/bin/python -m pytest tests/fuzz -q"

# The fuzzed gateway's limits: the production depth limit (the engine recurses
# through whatever the intake lets in), smaller body and entry limits so both
# sides of them are cheap to reach.
MAX_BODY_BYTES = 4_000_000
MAX_ENTRIES = 20
MAX_JSON_DEPTH = 64

HANG_SECONDS = 10  # a bound for "no answer at all", not a speed goal

bodies_sent: Counter[str] = Counter()
# Engine checks that raised on a fuzzed body: the engine reports them as an
# "exception" issue (so the answer is still a 422); tallied for the summary.
crashed_checks: Counter[str] = Counter()


@dataclass(frozen=True)
class Expectation:
    """What a strategy knows of the answer in advance, beyond the general properties."""

    description: str
    holds: Callable[[int, list[str]], bool]  # (status, rule ids of the issues)


@dataclass(frozen=True)
class FuzzRequest:
    """One generated request: body, headers and, when known, the expected answer."""

    body: bytes
    headers: dict[str, str]
    expectation: Expectation | None = None

    def __repr__(self) -> str:
        head, tail = self.body[:160], self.body[-80:] if len(self.body) > 240 else b""
        return (f"FuzzRequest({len(self.body)} bytes: {head!r}{' ... ' + repr(tail) if tail else ''}, "
                f"headers={self.headers}, expect={self.expectation.description if self.expectation else None})")


class RequestHung(BaseException):
    """Raised by the alarm inside a request that outlived ``HANG_SECONDS``.

    A BaseException, so that the gateway's catch-all error handler cannot turn
    it into an ordinary 500 answer.
    """


def post_with_hang_guard(client, request: FuzzRequest, strategy: str):
    """POST the request; fail when no answer comes within ``HANG_SECONDS``."""
    def interrupt(signum, frame):
        raise RequestHung

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, HANG_SECONDS)
    try:
        bodies_sent[strategy] += 1
        return client.post("/", data=request.body, headers=request.headers)
    except RequestHung:
        raise AssertionError(f"no answer within {HANG_SECONDS} s (hang) for {request!r}") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
