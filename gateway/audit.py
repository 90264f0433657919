"""Audit trail: who sent what, stored with the data and logged when refused.

An accepted submission gains a Provenance entry in the same transaction, so
HAPI stores it atomically with the resources it points at: the producer is
the author agent and the submission id a ``meta.tag``. The submission id is a
digest of the producer and the bundle, so a resent bundle maps to the same
Provenance (created once, thanks to its own ``ifNoneExist``). Every request
also leaves one JSON log line.
"""
from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime, timezone

SUBMISSION_TAG_SYSTEM = "https://github.com/tddui-gateway/submission"
PRODUCER_SYSTEM = "https://github.com/tddui-gateway/producer"
ANONYMOUS = "anonymous"

audit_log = logging.getLogger("tddui.audit")


def submission_id(producer_id: str, bundle: dict) -> str:
    canonical = json.dumps(bundle, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(f"{producer_id}\n{canonical}".encode("utf-8")).hexdigest()


def local_reference(entry) -> str | None:
    """How to point at an entry so HAPI rewrites it to the created id.

    HAPI substitutes ``urn:uuid:`` full URLs and ``Type/id`` references, but
    takes an absolute ``http(s)`` full URL for an external reference.
    """
    if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
        return None
    full_url, resource = entry.get("fullUrl") or "", entry["resource"]
    if full_url.startswith("urn:"):
        return full_url
    if resource.get("id") and resource.get("resourceType"):
        return f"{resource['resourceType']}/{resource['id']}"
    return full_url or None


def add_provenance(bundle: dict, producer_id: str, submission: str) -> dict:
    """Append a Provenance naming the producer and pointing at every entry."""
    targets = [{"reference": target} for target in map(local_reference, bundle.get("entry") or []) if target]
    provenance = {
        "resourceType": "Provenance",
        "meta": {"tag": [{"system": SUBMISSION_TAG_SYSTEM, "code": submission}]},
        "target": targets,
        "recorded": datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "activity": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                                 "code": "CREATE"}]},
        "agent": [{
            "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type",
                                 "code": "author"}]},
            "who": {"identifier": {"system": PRODUCER_SYSTEM, "value": producer_id}, "display": producer_id},
        }],
    }
    bundle.setdefault("entry", []).append({
        "fullUrl": f"urn:uuid:{submission[:8]}-{submission[8:12]}-{submission[12:16]}-"
                   f"{submission[16:20]}-{submission[20:32]}",
        "resource": provenance,
        "request": {"method": "POST", "url": "Provenance",
                    "ifNoneExist": f"_tag={SUBMISSION_TAG_SYSTEM}|{submission}"},
    })
    return bundle


def log_submission(request_id: str, producer_id: str | None, status: int, issues: int,
                   submission: str | None = None) -> None:
    """One JSON line per submission, accepted or not; never any patient data."""
    audit_log.info("submission", extra={"fields": {
        "event": "submission", "request_id": request_id, "producer": producer_id or ANONYMOUS,
        "status": status, "issues": issues, "submission_id": submission,
    }})
