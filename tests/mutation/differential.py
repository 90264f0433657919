"""The differential run: each mutant judged by the gateway's engine and by the real HAPI.

The gateway side is what the server does before forwarding: intake
(``parse_bundle``, with the gateway's limits), then ``ConformanceEngine.judge``.
The HAPI side is a transaction sent straight to a HAPI with request validation
on (the plug-in's TolerantRequestValidatingInterceptor, exactly as in
production), carrying the bundle as the gateway would forward it (normalised by
the engine). Accepted mutants are stored, so every mutant gets identifiers and
resource ids of its own (``personalised``): no mutant can match another's data.
"""
from __future__ import annotations

import json
import os
import re
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import requests

from gateway.conformance import ConformanceEngine
from gateway.intake import Limits, Rejected, parse_bundle
from tests.cases import load_examples, v1, v2
from tests.mutation.operators import Mutant, mutants

MUTANTS = int(os.environ.get("MUTANTS", "264"))
MUTATION_SEED = int(os.environ.get("MUTATION_SEED", "20261201"))
HAPI_THREADS = int(os.environ.get("MUTATION_HAPI_THREADS", "2"))
LONG_RUN_COMMAND = "MUTANTS=3000 MUTATION_REPORT=mutants.jsonl scripts/test tests/mutation -q"
REPORT_PATH = os.environ.get("MUTATION_REPORT")  # JSON lines, one per mutant, when set
VERDICTS = ("both refuse", "both accept", "gateway only", "HAPI only", "HAPI 5xx")

# Values of the baselines replaced in each mutant by values of its own.
NIR, FINESS = "147720425367411", "480787529"
RESOURCE_IDS = ("tddui-patient-ins-example", "tddui-patient-example", "tddui-organization-example",
                "tddui-encounter-sejour-example")


def baselines() -> dict[str, dict]:
    """Valid bundles from the package examples: V1 (the IG example), V2 (a patient without INS)."""
    examples = load_examples()
    return {"V1 IG example": v1(examples), "V2 TDDUIPatient": v2(examples)}


def personalised(bundle: dict, number: int) -> bytes:
    """The mutant's JSON with its own INS, FINESS and resource ids (everywhere they occur)."""
    body = json.dumps(bundle, ensure_ascii=False)
    body = body.replace(NIR, f"14772042{number + 9_000_000:07d}").replace(FINESS, f"95{number:07d}")
    for rid in RESOURCE_IDS:
        body = body.replace(rid, f"{rid}-m{number}")
    return body.encode("utf-8")


@dataclass
class Outcome:
    mutant: Mutant
    gateway_accepts: bool
    gateway_rules: tuple[str, ...]
    gateway_crashed: bool
    hapi_status: int          # 0: no HTTP answer
    hapi_message: str

    @property
    def verdict(self) -> str:
        if self.hapi_status >= 500 or self.hapi_status == 0:
            return "HAPI 5xx"
        hapi_accepts = 200 <= self.hapi_status < 300
        if self.gateway_accepts == hapi_accepts:
            return "both accept" if hapi_accepts else "both refuse"
        return "gateway only" if hapi_accepts else "HAPI only"


def gateway_side(engine: ConformanceEngine, body: bytes, limits: Limits) -> tuple[bool, tuple, bool, object]:
    """(accepted, blocking rules, engine crashed, what the gateway would forward or HAPI gets raw)."""
    try:
        bundle = parse_bundle(body, limits)
    except Rejected as refusal:
        return False, tuple(i.rule or "" for i in refusal.issues), False, body
    verdict = engine.judge(bundle)
    blocking = [issue for issue in verdict.issues if issue.blocking]
    crashed = any(issue.code == "exception" for issue in blocking)
    return verdict.accepted, tuple(sorted({i.rule or "" for i in blocking})), crashed, verdict.bundle


def hapi_side(session: requests.Session, base_url: str, payload) -> tuple[int, str]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload, ensure_ascii=False).encode("utf-8")
    try:
        answer = session.post(f"{base_url}/", data=body, timeout=180,
                              headers={"Content-Type": "application/fhir+json", "Prefer": "return=minimal"})
    except requests.RequestException as failure:
        return 0, repr(failure)[:300]
    return answer.status_code, first_error(answer)


def first_error(answer: requests.Response) -> str:
    """HAPI's first error diagnostics (or the start of the body when it is not an OperationOutcome)."""
    if answer.status_code < 300:
        return ""
    try:
        issues = answer.json().get("issue") or []
    except ValueError:
        return answer.text[:200]
    errors = [i for i in issues if i.get("severity") in ("error", "fatal")] or issues
    return (errors[0].get("diagnostics") or "")[:300] if errors else ""


def run(engine: ConformanceEngine, hapi_base_url: str, limits: Limits,
        count: int = MUTANTS, seed: int = MUTATION_SEED) -> list[Outcome]:
    """Judge every mutant with the engine (one thread: it is not shared), then send them all to HAPI."""
    generated = mutants(baselines(), count, seed)
    judged = []
    for number, mutant in enumerate(generated):
        body = personalised(mutant.bundle, number)
        judged.append((mutant, *gateway_side(engine, body, limits)))
    with requests.Session() as session, ThreadPoolExecutor(HAPI_THREADS) as pool:
        answers = list(pool.map(lambda item: hapi_side(session, hapi_base_url, item[4]), judged))
    return [Outcome(mutant, accepts, rules, crashed, status, message)
            for (mutant, accepts, rules, crashed, _), (status, message) in zip(judged, answers)]


def matrix(outcomes: list[Outcome]) -> str:
    """A markdown table: per operator, how many mutants fell in each verdict."""
    per_operator: dict[str, Counter] = defaultdict(Counter)
    for outcome in outcomes:
        per_operator[outcome.mutant.operator][outcome.verdict] += 1
    header = "| operator | mutants | " + " | ".join(VERDICTS) + " |"
    lines = [header, "|" + "---|" * (len(VERDICTS) + 2)]
    total = Counter()
    for operator, counts in per_operator.items():
        total.update(counts)
        lines.append(f"| {operator} | {sum(counts.values())} | " + " | ".join(str(counts[v]) for v in VERDICTS) + " |")
    lines.append(f"| **all** | **{sum(total.values())}** | " + " | ".join(f"**{total[v]}**" for v in VERDICTS) + " |")
    return "\n".join(lines)


def findings(outcomes: list[Outcome], verdict: str, limit: int = 60) -> list[str]:
    """One line per mutant of ``verdict``: operator, what changed, HAPI's status and message."""
    return [f"[{o.mutant.operator}] {o.mutant.baseline}: {o.mutant.description} -> HAPI {o.hapi_status}: "
            f"{o.hapi_message[:160]}" + (f" (gateway rules: {', '.join(o.gateway_rules)})" if o.gateway_rules else "")
            for o in outcomes if o.verdict == verdict][:limit]


def kind(outcome: Outcome) -> str:
    """The class of a mutant: operator, element name and variant (``[wrap-in-array] system: wrapped in an array``)."""
    where, _, variant = outcome.mutant.description.rpartition(": ")
    element = re.sub(r"\[\d+\]| \(url .*\)", "", where).rsplit(".", 1)[-1]
    variant = re.sub(r"^code '.*' -> '.*'$", "code replaced", variant)
    return f"[{outcome.mutant.operator}] {element}: {variant}"


def classes(outcomes: list[Outcome], verdict: str) -> list[str]:
    """One line per class of ``verdict``, largest first: count, class, one example with HAPI's answer."""
    grouped: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        if outcome.verdict == verdict:
            grouped[kind(outcome)].append(outcome)
    return [f"{len(members):4d}  {name}  e.g. {members[0].mutant.baseline}: {members[0].mutant.description} "
            f"-> HAPI {members[0].hapi_status}: {members[0].hapi_message[:140]}"
            for name, members in sorted(grouped.items(), key=lambda item: (-len(item[1]), item[0]))]


def write_report(outcomes: list[Outcome], path: str) -> None:
    with open(path, "w", encoding="utf-8") as out:
        for o in outcomes:
            out.write(json.dumps({"operator": o.mutant.operator, "description": o.mutant.description,
                                  "baseline": o.mutant.baseline, "verdict": o.verdict,
                                  "gateway_accepts": o.gateway_accepts, "gateway_rules": o.gateway_rules,
                                  "hapi_status": o.hapi_status, "hapi_message": o.hapi_message,
                                  "bundle": o.mutant.bundle}, ensure_ascii=False) + "\n")
