"""``POST /``: the stages of one submission, in their one direction of flow.

intake (media types) -> authenticate (who: 401) -> intake (size, JSON or XML
decoding: 413, 400) -> conformance (normalise, then the TDDUI checks: 422) -> authorise scope
(the one legal entity, within the producer's: 422, 403) -> receipt (the request
mutation) -> hapi (forward) -> relay (answer, post-processed by the mutation)
-> prefer (what each entry carries, as the producer's ``Prefer`` asks).
Each stage returns its value or raises ``Rejected``; this module applies
them in order, times the stages for the metrics and writes the audit line.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace

from gateway import audit, audit_event, intake, metrics, prefer, receipt, relay
from gateway.auth import Authenticator, Producer, legal_entity_scope
from gateway.conformance import ConformanceEngine
from gateway.descriptor import Descriptor
from gateway.fhir_xml import FhirXml
from gateway.formats import XML, body_format
from gateway.hapi import HapiClient
from gateway.intake import Limits, Rejected
from gateway.outcome import preferred_language

log = logging.getLogger("tddui.gateway")


@dataclass(frozen=True)
class Incoming:
    """What the pipeline needs of an HTTP request (so it is not tied to Flask)."""

    headers: object
    remote_addr: str | None
    stream: object
    content_length: int | None
    request_id: str
    format_parameter: str | None = None  # ``_format``, which overrides Accept
    # time.monotonic() when the request arrived: HAPI gets what is left of the time budget
    arrived: float = field(default_factory=time.monotonic)


@dataclass(frozen=True)
class Answer:
    status: int
    document: dict
    preference_applied: str | None = None  # the ``Prefer: return=`` honoured, for ``Preference-Applied``


@dataclass(frozen=True)
class Received:
    """What intake and authentication hand on: who sent it, and the decoded resource."""

    producer: Producer | None
    document: dict


class Reception:
    """The first stages, shared by ``POST /`` and ``$validate``: media types, who (401), body, decoding."""

    def __init__(self, limits: Limits, authenticator: Authenticator | None, xml: FhirXml):
        self.limits = limits
        self.authenticator = authenticator
        self.xml = xml

    def receive(self, incoming: Incoming, trace: dict) -> Received:
        content_type = incoming.headers.get("Content-Type")
        content_encoding = incoming.headers.get("Content-Encoding")
        intake.check_media_types(content_type, incoming.headers.get("Accept"), content_encoding,
                                 incoming.format_parameter)
        producer = None
        if self.authenticator:
            producer = self.authenticator.authenticate(incoming.headers, incoming.remote_addr)
            trace["producer"] = producer.id
        raw = intake.read_body(incoming.stream, incoming.content_length, self.limits, content_encoding)
        if body_format(content_type) == XML:
            document = self.xml.parse_resource(raw, self.limits)
        else:
            document = intake.parse_resource(raw, self.limits)
        return Received(producer, document)


class SubmissionPipeline:
    def __init__(self, reception: Reception, engine: ConformanceEngine, descriptor: Descriptor, hapi: HapiClient,
                 receipt_mode: str):
        self.reception = reception
        self.engine = engine
        self.descriptor = descriptor
        self.hapi = hapi
        self.receipt_mode = receipt_mode
        self.refusal_audit = audit_event.RefusalWriter(hapi.base_url)

    def submit(self, incoming: Incoming) -> Answer:
        """Run every stage; a refusal is counted, logged, audited and raised again for the caller to render.

        An accepted submission's AuditEvent is stored in its own transaction;
        a refusal's (the gateway's, or HAPI's relayed) is written on its own, in
        the background, so that a HAPI that is down or silent never delays the answer.
        """
        trace = {"producer": None, "submission": None, "legal_entity": None, "entries": None}
        try:
            answer, issue_count = self._run(incoming, trace)
        except Rejected as refusal:
            self._record(incoming, trace, refusal.status, refusal.issues)
            self._audit_refusal(incoming, trace, refusal.status, refusal.issues)
            raise
        metrics.SUBMISSIONS.labels(str(answer.status)).inc()
        audit.log_submission(incoming.request_id, trace["producer"], answer.status, issue_count, trace["submission"])
        if answer.status >= 400:
            self._audit_refusal(incoming, trace, answer.status, [])
        return answer

    def _audit_refusal(self, incoming: Incoming, trace: dict, status: int, issues: list) -> None:
        self.refusal_audit.submit(self._audit_event(incoming, trace, status, issues))

    @staticmethod
    def _audit_event(incoming: Incoming, trace: dict, status: int, issues: list) -> dict:
        return audit_event.build(producer_id=trace["producer"], legal_entity=trace["legal_entity"], status=status,
                                 request_id=incoming.request_id, submission=trace["submission"],
                                 entries=trace["entries"], issues=issues)

    def _run(self, incoming: Incoming, trace: dict) -> tuple[Answer, int]:
        mutation, issue_count = self._decide(incoming, trace)
        preference = prefer.requested(incoming.headers.get("Prefer"))
        started = time.perf_counter()
        try:
            hapi_answer = self.hapi.post_transaction(mutation.transaction,
                                                     representation=preference == prefer.REPRESENTATION,
                                                     started=incoming.arrived)
        finally:
            metrics.HAPI_SECONDS.observe(time.perf_counter() - started)
        # Sent: the forwarded copy (10,000 entries: ~40 MB) is freed before HAPI's answer is parsed.
        mutation = replace(mutation, transaction={})
        status, document = relay.relay(hapi_answer, mutation, self.descriptor.success)
        if status >= 400:
            return Answer(status, document), issue_count
        language = preferred_language(incoming.headers.get("Accept-Language"))
        return Answer(status, prefer.shape(document, preference, language), preference), issue_count

    def _decide(self, incoming: Incoming, trace: dict) -> tuple[receipt.RequestMutation, int]:
        """Every stage up to the receipt. Only the mutation comes out, so the producer's bundle
        is freed before HAPI's answer is read (10,000 entries: ~100 MB of Python objects)."""
        received = self.reception.receive(incoming, trace)
        producer = received.producer
        producer_id = producer.id if producer else audit.ANONYMOUS
        bundle = intake.check_bundle(received.document, self.reception.limits)
        if isinstance(bundle.get("entry"), list):
            trace["entries"] = len(bundle["entry"])
            metrics.BUNDLE_ENTRIES.observe(len(bundle["entry"]))

        with metrics.VERDICT_SECONDS.time():
            verdict = self.engine.judge(bundle)
        if not verdict.accepted:
            raise Rejected(422, verdict.issues)
        entity = legal_entity_scope(producer, verdict.bundle, self.descriptor.legal_entity)
        trace["legal_entity"] = entity.identifier

        submission = trace["submission"] = audit.submission_id(producer_id, verdict.bundle)
        mutation = receipt.decide(verdict.bundle, self.receipt_mode, entity, self.descriptor.business_identifiers,
                                  producer_id, submission, frozenset({self.engine.bundle_profile}),
                                  self._audit_event(incoming, trace, 200, verdict.issues))
        return mutation, len(verdict.issues)

    @staticmethod
    def _record(incoming: Incoming, trace: dict, status: int, issues: list) -> None:
        metrics.SUBMISSIONS.labels(str(status)).inc()
        for issue in issues:
            if issue.blocking:
                metrics.REFUSALS.labels(issue.rule or "unnamed").inc()
        audit.log_submission(incoming.request_id, trace["producer"], status, len(issues), trace["submission"])
