"""``POST /``: the stages of one submission, in their one direction of flow.

intake (media types, size, parse, limits) -> auth (who, and for which
FINESS) -> conformance (normalise, then the TDDUI checks) -> request mutation
(idempotent creates, audit Provenance) -> hapi (forward) -> relay (answer).
Each stage either hands its result on or raises ``Rejected``; this module
also times the stages for the metrics and writes the audit line.
"""
from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass

from gateway import audit, idempotency, intake, metrics, relay
from gateway.auth import Authenticator, authorise
from gateway.conformance import ConformanceEngine
from gateway.hapi import HapiClient
from gateway.intake import Limits, Rejected

log = logging.getLogger("tddui.gateway")


@dataclass(frozen=True)
class Incoming:
    """What the pipeline needs of an HTTP request (so it is not tied to Flask)."""

    headers: object
    remote_addr: str | None
    stream: object
    content_length: int | None
    request_id: str


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str


class SubmissionPipeline:
    def __init__(self, limits: Limits, authenticator: Authenticator | None, engine: ConformanceEngine,
                 hapi: HapiClient, idempotent_creates: bool):
        self.limits = limits
        self.authenticator = authenticator
        self.engine = engine
        self.hapi = hapi
        self.idempotent_creates = idempotent_creates

    def submit(self, incoming: Incoming) -> Answer:
        """Run every stage; a refusal is counted, logged and raised again for the caller to render."""
        trace = {"producer": None, "submission": None}
        try:
            answer, issue_count = self._run(incoming, trace)
        except Rejected as refusal:
            self._record(incoming, trace, refusal.status, refusal.issues)
            raise
        metrics.SUBMISSIONS.labels(str(answer.status)).inc()
        audit.log_submission(incoming.request_id, trace["producer"], answer.status, issue_count, trace["submission"])
        return answer

    def _run(self, incoming: Incoming, trace: dict) -> tuple[Answer, int]:
        intake.check_media_types(incoming.headers.get("Content-Type"), incoming.headers.get("Accept"))
        raw = intake.read_body(incoming.stream, incoming.content_length, self.limits)
        bundle = intake.parse_bundle(raw, self.limits)
        if isinstance(bundle.get("entry"), list):
            metrics.BUNDLE_ENTRIES.observe(len(bundle["entry"]))

        producer_id = audit.ANONYMOUS
        if self.authenticator:
            producer = self.authenticator.authenticate(incoming.headers, incoming.remote_addr)
            producer_id = trace["producer"] = producer.id
            authorise(producer, bundle)

        with metrics.VERDICT_SECONDS.time():
            verdict = self.engine.judge(bundle)
        if not verdict.accepted:
            raise Rejected(422, verdict.issues)

        submission = trace["submission"] = audit.submission_id(producer_id, verdict.bundle)
        outgoing = self._mutate(verdict.bundle, producer_id, submission)
        started = time.perf_counter()
        try:
            hapi_answer = self.hapi.post_transaction(outgoing)
        finally:
            metrics.HAPI_SECONDS.observe(time.perf_counter() - started)
        status, body, content_type = relay.relay(hapi_answer)
        return Answer(status, body, content_type), len(verdict.issues)

    def _mutate(self, bundle: dict, producer_id: str, submission: str) -> dict:
        """The request mutation: conditional creates, then the audit Provenance."""
        outgoing = copy.deepcopy(bundle)
        if self.idempotent_creates:
            idempotency.make_conditional(outgoing)
        return audit.add_provenance(outgoing, producer_id, submission)

    @staticmethod
    def _record(incoming: Incoming, trace: dict, status: int, issues: list) -> None:
        metrics.SUBMISSIONS.labels(str(status)).inc()
        for issue in issues:
            if issue.blocking:
                metrics.REFUSALS.labels(issue.rule or "unnamed").inc()
        audit.log_submission(incoming.request_id, trace["producer"], status, len(issues), trace["submission"])
