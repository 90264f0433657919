"""Stage 1: parse the request body into a Bundle, refusing what is not one.

Anything that is not JSON, not a FHIR resource or not a Bundle is refused
with 400 and one OperationOutcome issue; nothing further runs.
"""
from __future__ import annotations

import json

from gateway.outcome import Issue, single


class Rejected(Exception):
    """A request refused by a stage: HTTP status plus the issues to report."""

    def __init__(self, status: int, issues: list[Issue]):
        super().__init__(f"{status}: {[issue.message.en for issue in issues]}")
        self.status = status
        self.issues = issues


def parse_bundle(raw: bytes) -> dict:
    """Decode a JSON FHIR Bundle or raise ``Rejected(400)``."""
    try:
        document = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Rejected(400, [single(
            "error", "structure",
            f"Le corps de la requête n'est pas un JSON valide : {exc}",
            f"The request body is not valid JSON: {exc}",
            rule="gateway-json")]) from None
    except RecursionError:
        raise Rejected(400, [single(
            "error", "structure",
            "Le corps de la requête est imbriqué trop profondément.",
            "The request body is nested too deeply.",
            rule="gateway-json-depth")]) from None
    if not isinstance(document, dict) or not isinstance(document.get("resourceType"), str):
        raise Rejected(400, [single(
            "error", "structure",
            "Le corps de la requête n'est pas une ressource FHIR (resourceType absent).",
            "The request body is not a FHIR resource (no resourceType).",
            rule="gateway-fhir-resource")])
    if document["resourceType"] != "Bundle":
        raise Rejected(400, [single(
            "error", "structure",
            f"Une ressource Bundle de type transaction est attendue, pas {document['resourceType']}.",
            f"A transaction Bundle is expected, not {document['resourceType']}.",
            rule="gateway-bundle", expression=document["resourceType"])])
    return document
