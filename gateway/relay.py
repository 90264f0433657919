"""Stage 6: turn HAPI's answer into the gateway's answer.

A successful transaction (HAPI: 200 + transaction-response) becomes
``201 Created`` with HAPI's body unchanged, as TDDUI Flux 1.2 asks; when it
created nothing (a resent bundle, every entry ``200 OK``) the answer stays
``200 OK``, so a producer can tell a retry from a first delivery. HAPI's
refusals are relayed verbatim; only an answer that is not FHIR at all is
replaced, by a 502 naming the problem.
"""
from __future__ import annotations

from gateway.hapi import HapiAnswer
from gateway.intake import Rejected
from gateway.outcome import single


def relay(answer: HapiAnswer) -> tuple[int, bytes, str]:
    """Status, body and content type to send back to the producer."""
    document = answer.json()
    if answer.status == 200 and document and document.get("type") == "transaction-response":
        created = any(str((entry.get("response") or {}).get("status", "")).startswith("201")
                      for entry in document.get("entry") or [])
        return (201 if created else 200), answer.body, answer.content_type
    if answer.status >= 400 and document and document.get("resourceType") == "OperationOutcome":
        return answer.status, answer.body, answer.content_type
    raise Rejected(502, [single(
        "error", "exception",
        f"Réponse inattendue du serveur FHIR (HTTP {answer.status}).",
        f"Unexpected answer from the FHIR server (HTTP {answer.status}).",
        rule="gateway-hapi-unexpected")])
