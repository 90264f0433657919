"""Audit trail: who sent what, stored with the data and logged when refused.

An accepted submission gains a Provenance entry in the same transaction (the
receipt puts it there), so HAPI stores it atomically with the versions it
points at: the producer is the author agent, its legal entity the agent's
``onBehalfOf``, and the submission id a ``meta.tag``. The submission id is a
digest of the producer and the bundle, so a resent bundle maps to the same
Provenance (created once, thanks to its own ``ifNoneExist``). Every request
also leaves one JSON log line.
"""
from __future__ import annotations

import hashlib
import json
import logging
import uuid
from datetime import datetime, timezone

SUBMISSION_TAG_SYSTEM = "https://github.com/tddui-gateway/submission"
PRODUCER_SYSTEM = "https://github.com/tddui-gateway/producer"
ANONYMOUS = "anonymous"

audit_log = logging.getLogger("tddui.audit")


def submission_id(producer_id: str, bundle: dict) -> str:
    """SHA-256 of the producer and the bundle's canonical JSON (sorted keys, no spaces), hashed
    entry by entry: encoding a 10,000-entry bundle in one string took ~190 MB at its peak."""
    digest = hashlib.sha256(f"{producer_id}\n".encode("utf-8"))
    for piece in canonical_pieces(bundle):
        digest.update(piece.encode("utf-8"))
    return digest.hexdigest()


def canonical(value) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def canonical_pieces(bundle: dict):
    """``canonical(bundle)`` in pieces, one per entry, that join to exactly that string."""
    yield "{"
    for position, key in enumerate(sorted(bundle)):
        yield ("," if position else "") + canonical(key) + ":"
        value = bundle[key]
        if key == "entry" and isinstance(value, list):
            yield "["
            for index, entry in enumerate(value):
                yield ("," if index else "") + canonical(entry)
            yield "]"
        else:
            yield canonical(value)
    yield "}"


def provenance_entry(targets: list[str], producer_id: str, legal_entity: dict, scope_tag: dict,
                     submission: str) -> dict:
    """The transaction entry of the Provenance naming the producer, its legal entity and every entry.

    ``targets`` are the entries' ``urn:uuid:`` fullUrls; HAPI rewrites them to
    the exact versions written (``Provenance.target`` is auto-versioned in
    hapi-config/application.yaml). A conditional create on the submission
    digest: a resent bundle, which writes nothing, adds no Provenance either.
    """
    provenance = {
        "resourceType": "Provenance",
        "meta": {"tag": [{"system": SUBMISSION_TAG_SYSTEM, "code": submission}, scope_tag]},
        "target": [{"reference": target} for target in targets],
        "recorded": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "activity": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                                 "code": "UPDATE"}]},
        "agent": [{
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                 "code": "author"}]},
            "who": {"identifier": {"system": PRODUCER_SYSTEM, "value": producer_id}, "display": producer_id},
            "onBehalfOf": {"identifier": legal_entity},
        }],
    }
    return {
        "fullUrl": uuid.uuid5(uuid.NAMESPACE_URL, f"{submission}#provenance").urn,
        "resource": provenance,
        "request": {"method": "POST", "url": "Provenance",
                    "ifNoneExist": f"_tag={SUBMISSION_TAG_SYSTEM}|{submission}"},
    }


def log_submission(request_id: str, producer_id: str | None, status: int, issues: int,
                   submission: str | None = None) -> None:
    """One JSON line per submission, accepted or not; never any patient data."""
    audit_log.info("submission", extra={"fields": {
        "event": "submission", "request_id": request_id, "producer": producer_id or ANONYMOUS,
        "status": status, "issues": issues, "submission_id": submission,
    }})
