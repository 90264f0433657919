"""Who is sending (stage 2, authenticate) and for which legal entity (stage 5, authorise scope).

Producers are authenticated by an API key (only its SHA-256 is configured) or
by the client-certificate subject that a trusted TLS-terminating proxy passes
in a header (ignored from any other address); otherwise 401. Each producer is
bound to the FINESS numbers it may submit for. After the TDDUI checks,
``legal_entity_scope`` names the one legal entity the submission is stored
under; an Organization carrying any idNatSt or FINESS of another entity is
refused with 403.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from gateway.addresses import TrustedProxies
from gateway.descriptor import LegalEntityPatterns
from gateway.intake import Rejected
from gateway.outcome import single

@dataclass(frozen=True)
class Producer:
    id: str
    finess: frozenset[str]


@dataclass(frozen=True)
class LegalEntity:
    """The legal entity a submission is stored under, named by its idNatSt."""

    system: str
    id_nat_st: str

    @property
    def identifier(self) -> dict:
        return {"system": self.system, "value": self.id_nat_st}


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ProducerRegistry:
    """Producers by API-key hash and by certificate subject."""

    def __init__(self, entries: list[dict]):
        self.by_key_hash: dict[str, Producer] = {}
        self.by_subject: dict[str, Producer] = {}
        for entry in entries:
            producer = Producer(str(entry["id"]), frozenset(str(v) for v in entry.get("finess", [])))
            for key_hash in entry.get("api_key_sha256", []):
                self.by_key_hash[key_hash.lower()] = producer
            for subject in entry.get("certificate_subjects", []):
                self.by_subject[normalise_subject(subject)] = producer

    @classmethod
    def from_source(cls, file: Path | None, inline: str | None) -> "ProducerRegistry":
        """Read producers from a YAML/JSON file or from an inline JSON string."""
        if inline:
            document = json.loads(inline)
        elif file:
            document = yaml.safe_load(Path(file).read_text(encoding="utf-8"))
        else:
            document = {}
        return cls((document or {}).get("producers", []))


def normalise_subject(subject: str) -> str:
    """Compare distinguished names without caring for spaces after commas or case."""
    return ",".join(part.strip() for part in subject.split(",")).casefold()


class Authenticator:
    """Answers one question: which producer sent this request?"""

    def __init__(self, registry: ProducerRegistry, api_key_header: str, certificate_header: str,
                 trusted_proxies: TrustedProxies):
        self.registry = registry
        self.api_key_header = api_key_header
        self.certificate_header = certificate_header
        self.trusted_proxies = trusted_proxies

    def authenticate(self, headers, remote_addr: str | None) -> Producer:
        key = headers.get(self.api_key_header)
        if key:
            producer = self.registry.by_key_hash.get(hash_api_key(key))
            if producer:
                return producer
        subject = headers.get(self.certificate_header)
        if subject and self.trusted_proxies.trust(remote_addr):
            producer = self.registry.by_subject.get(normalise_subject(subject))
            if producer:
                return producer
        raise Rejected(401, [single(
            "error", "login",
            f"Authentification requise : clé d'API ({self.api_key_header}) ou certificat client valide.",
            f"Authentication required: a valid API key ({self.api_key_header}) or client certificate.",
            rule="gateway-authentication")])


def legal_entity_scope(producer: Producer | None, bundle: dict, patterns: LegalEntityPatterns) -> LegalEntity:
    """The one legal entity of an accepted bundle, checked against the producer's scope.

    422 when the bundle names no legal entity and the producer is not bound to
    exactly one, or names several; 403 when an Organization carries any idNatSt
    or FINESS identifier that is not the producer's. ``producer`` is None only
    when authentication is off: then the bundle alone names its entity.
    """
    named, foreign = [], []
    for index, entry in enumerate(bundle.get("entry") or []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or resource.get("resourceType") != patterns.resource_type:
            continue
        for identifier in resource.get("identifier") or []:
            system, value = identifier.get("system"), identifier.get("value")
            if system == patterns.id_nat_st.system:
                named.append(value)
            if producer and system in (patterns.id_nat_st.system, patterns.finess.system) \
                    and not belongs_to(producer, system, value, patterns):
                foreign.append((index, value))
    entities = sorted(set(named))
    if len(entities) > 1:
        raise Rejected(422, [single(
            "error", "business-rule",
            f"Le Bundle nomme plusieurs entités juridiques ({', '.join(entities)}) : une soumission porte sur une seule.",
            f"The Bundle names several legal entities ({', '.join(entities)}); a submission is for one only.",
            rule="BR-ONE-LEGAL-ENTITY", expression="Bundle.entry")])
    if not entities:
        if producer is None or len(producer.finess) != 1:
            raise Rejected(422, [single(
                "error", "business-rule",
                "Le Bundle ne contient pas d'Organization portant l'idNatSt de l'entité juridique : elle est "
                "obligatoire quand le producteur n'est pas rattaché à une seule entité juridique.",
                "The Bundle holds no Organization with the legal entity's idNatSt: one is required when the "
                "producer is not bound to exactly one legal entity.",
                rule="BR-LEGAL-ENTITY", expression="Bundle.entry")])
        entities = [patterns.id_nat_st_of_finess(next(iter(producer.finess)))]
    if foreign:
        raise Rejected(403, [single(
            "error", "forbidden",
            f"Le producteur {producer.id} n'est pas habilité pour l'identifiant {value}.",
            f"Producer {producer.id} may not submit for the identifier {value}.",
            rule="gateway-finess-scope", expression=f"Bundle.entry[{index}].resource.identifier")
            for index, value in foreign])
    return LegalEntity(patterns.id_nat_st.system, entities[0])


def belongs_to(producer: Producer, system: str, value, patterns: LegalEntityPatterns) -> bool:
    """idNatSt counts only as the FINESS prefix + FINESS (other prefixes are ADELI, SIREN...)."""
    if not isinstance(value, str):
        return False
    if system == patterns.id_nat_st.system:
        return any(value == patterns.id_nat_st_of_finess(finess) for finess in producer.finess)
    return value in producer.finess
