"""Every submission as a FHIR AuditEvent in HAPI, in the style of IHE BALP.

``build`` turns plain values into the AuditEvent (pure); an accepted
submission's AuditEvent travels in the same transaction as its data, and a
refusal's is written on its own by ``write_refusal``, which never raises.
``search`` and ``Submission.from_resource`` read them back for the admin page,
and ``purge`` deletes those past the retention period.

Never any patient data: the producer, the legal entity's idNatSt, the HTTP
status, the request id, the submission digest, counts, and for each blocking
issue its rule id, element path and message with every quoted value replaced
by ``'…'`` (messages quote the offending value, which may be an INS or a name).
"""
from __future__ import annotations

import logging
import os
import re
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Sequence

import requests

from gateway.audit import ANONYMOUS, PRODUCER_SYSTEM, SUBMISSION_TAG_SYSTEM
from gateway.outcome import Issue

AUDIT_TAG = {"system": "https://github.com/tddui-gateway/audit", "code": "submission"}
GATEWAY_NAME = "tddui-gateway"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
BALP_ENTITY_TYPE = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
ISSUE_ENTITY_TYPE = {"system": "http://hl7.org/fhir/resource-types", "code": "OperationOutcome"}
SUBMISSION_ENTITY_TYPE = {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2",
                          "display": "System Object"}
OUTCOME_TEXT = {"0": "success", "4": "minor failure", "8": "serious failure", "12": "major failure"}
WRITE_TIMEOUT = (2.0, 10.0)  # seconds: connect, read
CUSTODIAN = "CST"  # the agent naming the legal entity
# A quoted value opens after a non-letter and closes before one, so French elisions (l'INS, n'existe) stay.
_QUOTED = re.compile(r"(?<!\w)'[^']*'(?!\w)|(?<!\w)\"[^\"]*\"(?!\w)|«[^»]*»")

log = logging.getLogger("tddui.audit")


def outcome_code(status: int) -> str:
    """BALP outcome by HTTP status: 2xx/3xx success (0), 4xx the producer's error (4), a HAPI that is
    unreachable, silent or not speaking FHIR (502-504) a serious failure (8), any other 5xx major (12)."""
    if status < 400:
        return "0"
    if status < 500:
        return "4"
    return "8" if status in (502, 503, 504) else "12"


def redact(message: str) -> str:
    """The message with every quoted value blanked: rule texts stay, bundle contents go."""
    return _QUOTED.sub("'…'", message)


def now_instant() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def build(*, producer_id: str | None, legal_entity: dict | None, status: int, request_id: str,
          submission: str | None, entries: int | None, issues: Sequence[Issue],
          recorded: str | None = None) -> dict:
    """The AuditEvent of one submission (a JSON-ready dict).

    ``legal_entity`` is the entity's identifier (its idNatSt), when settled.
    An accepted submission's AuditEvent rides in its own transaction, before
    HAPI says whether anything was created: it records 200 for 200 and 201 alike.
    """
    producer = producer_id or ANONYMOUS
    blocking = [issue for issue in issues if issue.blocking]
    agents = [{
        "type": {"coding": [{"system": DCM, "code": "110153", "display": "Source Role ID"}]},
        "who": {"identifier": {"system": PRODUCER_SYSTEM, "value": producer}, "display": producer},
        "name": producer,
        "requestor": True,
    }, {
        "type": {"coding": [{"system": DCM, "code": "110152", "display": "Destination Role ID"}]},
        "who": {"display": GATEWAY_NAME},
        "requestor": False,
    }]
    if legal_entity:
        agents.append({
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                 "code": CUSTODIAN, "display": "custodian"}]},
            "who": {"identifier": legal_entity},
            "requestor": False,
        })
    details = [{"type": "http-status", "valueString": str(status)},
               {"type": "issues", "valueString": str(len(issues))},
               {"type": "blocking-issues", "valueString": str(len(blocking))}]
    if entries is not None:
        details.append({"type": "entries", "valueString": str(entries)})
    entities = [{
        "what": {"identifier": {"value": request_id}},
        "type": {"system": BALP_ENTITY_TYPE, "code": "XrequestId"},
    }, {
        "type": SUBMISSION_ENTITY_TYPE,
        "name": "submission",
        "detail": details,
        **({"what": {"identifier": {"system": SUBMISSION_TAG_SYSTEM, "value": submission}}} if submission else {}),
    }]
    for issue in blocking:
        entities.append({
            "type": ISSUE_ENTITY_TYPE,
            "name": issue.rule or "unnamed",
            "description": redact(issue.message.fr),
            **({"detail": [{"type": "expression", "valueString": issue.expression}]} if issue.expression else {}),
        })
    outcome = outcome_code(status)
    return {
        "resourceType": "AuditEvent",
        "meta": {"tag": [AUDIT_TAG]},
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest",
                 "display": "RESTful Operation"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": "transaction"}],
        "action": "C",
        "recorded": recorded or now_instant(),
        "outcome": outcome,
        "outcomeDesc": f"HTTP {status}: {OUTCOME_TEXT[outcome]}, {len(blocking)} blocking issue(s)",
        "agent": agents,
        "source": {"observer": {"display": GATEWAY_NAME},
                   "type": [{"system": "http://terminology.hl7.org/CodeSystem/security-source-type",
                             "code": "4", "display": "Application Server"}]},
        "entity": entities,
    }


def write_refusal(hapi_base_url: str, audit_event: dict,
                  timeout: tuple[float, float] = WRITE_TIMEOUT) -> str | None:
    """POST a refusal's AuditEvent on its own; its id, or None (logged) when HAPI does not take it.

    A refusal must be answered whatever HAPI's state, so this waits ``timeout`` at most and never raises.
    """
    try:
        answer = requests.post(f"{hapi_base_url}/AuditEvent", json=audit_event, timeout=timeout,
                               headers={"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"})
        if answer.status_code == 201:
            return answer.json().get("id")
        log.error("audit event not stored", extra={"fields": {"event": "audit-event-failed",
                                                               "hapi_status": answer.status_code}})
    except (requests.RequestException, ValueError) as exc:
        log.error("audit event not stored", extra={"fields": {"event": "audit-event-failed",
                                                               "error": type(exc).__name__}})
    return None


class RefusalWriter:
    """Writes refusals' AuditEvents off the request path, so a silent HAPI never delays an answer.

    One small thread pool per process, made on first use: gunicorn forks its
    workers after loading the app, and threads do not survive a fork.
    """

    def __init__(self, hapi_base_url: str, threads: int = 2):
        self.hapi_base_url = hapi_base_url
        self.threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._pid: int | None = None

    def submit(self, audit_event: dict) -> Future:
        if self._pool is None or self._pid != os.getpid():
            self._pool, self._pid = ThreadPoolExecutor(self.threads, thread_name_prefix="audit"), os.getpid()
        return self._pool.submit(write_refusal, self.hapi_base_url, audit_event)


@dataclass(frozen=True)
class RuleIssue:
    rule: str
    expression: str | None
    message: str


@dataclass(frozen=True)
class Submission:
    """One row of the admin page, read back from an AuditEvent."""

    id: str
    recorded: datetime
    producer: str
    legal_entity: str | None
    status: int
    entries: int | None
    issue_count: int
    request_id: str | None
    submission: str | None
    issues: tuple[RuleIssue, ...]

    @property
    def refused(self) -> bool:
        return self.status >= 400

    @classmethod
    def from_resource(cls, resource: dict) -> "Submission":
        agents, entities = resource.get("agent", []), resource.get("entity", [])
        producer = next((agent.get("name") for agent in agents if agent.get("requestor")), ANONYMOUS)
        legal_entity = next((agent["who"]["identifier"]["value"] for agent in agents
                             if CUSTODIAN in [c.get("code") for c in agent.get("type", {}).get("coding", [])]),
                            None)
        submission_entity = next((entity for entity in entities if entity.get("name") == "submission"), {})
        details = {detail["type"]: detail.get("valueString") for detail in submission_entity.get("detail", [])}
        request_id = next((entity["what"]["identifier"]["value"] for entity in entities
                           if entity.get("type", {}).get("code") == "XrequestId"), None)
        issues = tuple(RuleIssue(entity.get("name", ""),
                                 next((d.get("valueString") for d in entity.get("detail", [])
                                       if d["type"] == "expression"), None),
                                 entity.get("description", ""))
                       for entity in entities if entity.get("type", {}).get("code") == ISSUE_ENTITY_TYPE["code"])
        return cls(
            id=resource.get("id", ""),
            recorded=datetime.fromisoformat(resource["recorded"].replace("Z", "+00:00")),
            producer=producer,
            legal_entity=legal_entity,
            status=int(details.get("http-status") or 0),
            entries=int(details["entries"]) if details.get("entries") else None,
            issue_count=int(details.get("issues") or 0),
            request_id=request_id,
            submission=submission_entity.get("what", {}).get("identifier", {}).get("value"),
            issues=issues,
        )


def search(hapi_base_url: str, *, producer: str | None = None, outcome: str | None = None,
           since: datetime | None = None, limit: int = 100, timeout: float = 10.0) -> list[Submission]:
    """The gateway's most recent AuditEvents, newest first, at most ``limit`` (following HAPI's pages)."""
    params = {"_tag": f"{AUDIT_TAG['system']}|{AUDIT_TAG['code']}", "_sort": "-date", "_count": str(min(limit, 200))}
    if producer:
        params["agent-name:exact"] = producer
    if outcome:
        params["outcome"] = outcome
    if since:
        params["date"] = "ge" + since.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    found: list[Submission] = []
    url: str | None = f"{hapi_base_url}/AuditEvent"
    while url and len(found) < limit:
        answer = requests.get(url, params=params, timeout=timeout,
                              headers={"Accept": "application/fhir+json", "Cache-Control": "no-cache"})
        answer.raise_for_status()
        page = answer.json()
        found += [Submission.from_resource(entry["resource"]) for entry in page.get("entry", [])]
        url = next((link["url"] for link in page.get("link", []) if link.get("relation") == "next"), None)
        params = None  # the next link carries them
    return found[:limit]


def read(hapi_base_url: str, audit_event_id: str, timeout: float = 10.0) -> Submission | None:
    answer = requests.get(f"{hapi_base_url}/AuditEvent/{audit_event_id}", timeout=timeout,
                          headers={"Accept": "application/fhir+json"})
    if answer.status_code in (404, 410):
        return None
    answer.raise_for_status()
    resource = answer.json()
    if AUDIT_TAG not in [{"system": tag.get("system"), "code": tag.get("code")}
                         for tag in resource.get("meta", {}).get("tag", [])]:
        return None
    return Submission.from_resource(resource)


def purge(hapi_base_url: str, retention_days: int, timeout: float = 30.0) -> int:
    """Delete the gateway's AuditEvents recorded more than ``retention_days`` ago; how many were deleted."""
    cutoff = datetime.now(timezone.utc) - timedelta(days=retention_days)
    params = {"_tag": f"{AUDIT_TAG['system']}|{AUDIT_TAG['code']}", "_elements": "id", "_count": "200",
              "date": "lt" + cutoff.isoformat(timespec="seconds").replace("+00:00", "Z")}
    deleted = 0
    while True:
        answer = requests.get(f"{hapi_base_url}/AuditEvent", params=params, timeout=timeout,
                              headers={"Accept": "application/fhir+json", "Cache-Control": "no-cache"})
        answer.raise_for_status()
        ids = [entry["resource"]["id"] for entry in answer.json().get("entry", [])]
        if not ids:
            return deleted
        for audit_event_id in ids:
            requests.delete(f"{hapi_base_url}/AuditEvent/{audit_event_id}", timeout=timeout).raise_for_status()
            deleted += 1
