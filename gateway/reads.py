"""``GET /{type}/{id}`` and ``/{type}/{id}/_history/{vid}``: read and vread, relayed from HAPI.

A producer sees only the resources of its own legal entities: those whose
``meta.tag`` names one of them (system ``LEGAL_ENTITY_TAG_SYSTEM``, code the
idNatSt, "1" + FINESS). Anything else, whether it exists or not, is the same
404, so another facility's record does not reveal itself. HAPI's own
conditional-read answers are not used: ``If-None-Match`` is compared here,
after the scope check, for the same reason.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

from werkzeug.http import parse_etags

from gateway.auth import Producer
from gateway.descriptor import LegalEntityPatterns
from gateway.hapi import HapiClient
from gateway.intake import Rejected
from gateway.outcome import single
from gateway.receipt import LEGAL_ENTITY_TAG_SYSTEM
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
NOT_FOUND_STATUSES = (400, 404, 410)  # HAPI: bad id or version, unknown, deleted


@dataclass(frozen=True)
class ReadResult:
    """A resource the producer may see, or only the news that its copy is current."""

    resource: dict
    not_modified: bool

    @property
    def version_id(self) -> str:
        return str((self.resource.get("meta") or {}).get("versionId", ""))

    @property
    def last_updated(self) -> datetime | None:
        stamp = (self.resource.get("meta") or {}).get("lastUpdated")
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")) if isinstance(stamp, str) else None


def in_scope(resource: dict, producer: Producer | None, patterns: LegalEntityPatterns) -> bool:
    """True when authentication is off, or the resource is tagged with one of the producer's legal entities."""
    if producer is None:
        return True
    entities = {patterns.id_nat_st_of_finess(finess) for finess in producer.finess}
    tags = (resource.get("meta") or {}).get("tag") or []
    return any(isinstance(tag, dict) and tag.get("system") == LEGAL_ENTITY_TAG_SYSTEM and tag.get("code") in entities
               for tag in tags)


class Reader:
    def __init__(self, hapi: HapiClient, readable_types: list[str], patterns: LegalEntityPatterns):
        self.hapi = hapi
        self.readable_types = tuple(readable_types)  # from the CapabilityStatement, so both tell the same
        self.patterns = patterns

    def read(self, producer: Producer | None, resource_type: str, resource_id: str,
             version_id: str | None = None, if_none_match: str | None = None) -> ReadResult:
        """The resource within the producer's scope, or ``Rejected`` 404 (502/503/504 from HAPI)."""
        if resource_type not in self.readable_types:
            raise Rejected(404, [single(
                "error", "not-supported",
                f"Le type {resource_type} n'est pas servi ; lecture possible : {', '.join(self.readable_types)}.",
                f"Type {resource_type} is not served; readable types: {', '.join(self.readable_types)}.",
                rule="gateway-read-type")])
        if not FHIR_ID.fullmatch(resource_id) or (version_id is not None and not FHIR_ID.fullmatch(version_id)):
            raise not_found(resource_type, resource_id)
        answer = self.hapi.read(resource_type, resource_id, version_id)
        if answer.status in NOT_FOUND_STATUSES:
            raise not_found(resource_type, resource_id)
        resource = answer.json() if answer.status == 200 else None
        if not resource or resource.get("resourceType") != resource_type:
            raise Rejected(502, [single(
                "error", "exception",
                f"Réponse inattendue du serveur FHIR à la lecture (HTTP {answer.status}).",
                f"Unexpected answer from the FHIR server to the read (HTTP {answer.status}).",
                rule="gateway-hapi-unexpected")])
        if not in_scope(resource, producer, self.patterns):
            raise not_found(resource_type, resource_id)
        result = ReadResult(resource, False)
        if if_none_match and parse_etags(if_none_match).contains_weak(result.version_id):
            return ReadResult(resource, True)
        return result


def not_found(resource_type: str, resource_id: str) -> Rejected:
    shown = json.dumps(resource_id[:64])
    return Rejected(404, [single(
        "error", "not-found",
        f"Ressource {resource_type}/{shown} introuvable.",
        f"Resource {resource_type}/{shown} not found.",
        rule="gateway-read-not-found")])
