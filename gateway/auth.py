"""Stage 2: who is sending, and may they send for this facility?

Producers are authenticated by an API key (only its SHA-256 is configured) or
by the client-certificate subject that a trusted TLS-terminating proxy passes
in a header (ignored from any other address). Each producer is bound to the
FINESS / idNatSt values it may submit for; a bundle naming another legal
entity is refused with 403. Unauthenticated requests get 401.
"""
from __future__ import annotations

import hashlib
import ipaddress
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

from gateway.intake import Rejected
from gateway.outcome import single

ID_NAT_STRUCT_SYSTEM = "urn:oid:1.2.250.1.71.4.2.2"
FINESS_SYSTEM = "https://finess.esante.gouv.fr"  # FR Core Organization.identifier:finess
FINESS_PREFIX = "1"  # idNatSt = "1" + FINESS number (ANS nomenclature)


@dataclass(frozen=True)
class Producer:
    id: str
    finess: frozenset[str]

    def may_submit_for(self, system: str, value: str) -> bool:
        """idNatSt counts only as "1" + FINESS (other prefixes are ADELI, SIREN...)."""
        if system == ID_NAT_STRUCT_SYSTEM:
            return value.startswith(FINESS_PREFIX) and value[len(FINESS_PREFIX):] in self.finess
        return system == FINESS_SYSTEM and value in self.finess


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
                 trusted_proxies: list[str]):
        self.registry = registry
        self.api_key_header = api_key_header
        self.certificate_header = certificate_header
        self.trusted_proxies = [ipaddress.ip_network(net, strict=False) for net in trusted_proxies]

    def authenticate(self, headers, remote_addr: str | None) -> Producer:
        key = headers.get(self.api_key_header)
        if key:
            producer = self.registry.by_key_hash.get(hash_api_key(key))
            if producer:
                return producer
        subject = headers.get(self.certificate_header)
        if subject and self._from_trusted_proxy(remote_addr):
            producer = self.registry.by_subject.get(normalise_subject(subject))
            if producer:
                return producer
        raise Rejected(401, [single(
            "error", "login",
            f"Authentification requise : clé d'API ({self.api_key_header}) ou certificat client valide.",
            f"Authentication required: a valid API key ({self.api_key_header}) or client certificate.",
            rule="gateway-authentication")])

    def _from_trusted_proxy(self, remote_addr: str | None) -> bool:
        try:
            address = ipaddress.ip_address(remote_addr or "")
        except ValueError:
            return False
        return any(address in network for network in self.trusted_proxies)


def authorise(producer: Producer, bundle: dict) -> None:
    """403 unless every Organization of the bundle is one the producer may submit for."""
    refused = []
    organisations = 0
    for index, entry in enumerate(bundle.get("entry") or []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or resource.get("resourceType") != "Organization":
            continue
        organisations += 1
        identifiers = [(i["system"], i["value"]) for i in resource.get("identifier") or []
                       if isinstance(i, dict) and i.get("system") in (ID_NAT_STRUCT_SYSTEM, FINESS_SYSTEM)
                       and isinstance(i.get("value"), str)]
        if not any(producer.may_submit_for(system, value) for system, value in identifiers):
            refused.append(single(
                "error", "forbidden",
                f"Le producteur {producer.id} n'est pas habilité pour l'entité juridique "
                f"{', '.join(value for _, value in identifiers) or '(sans idNatSt ni FINESS)'}.",
                f"Producer {producer.id} may not submit for the legal entity "
                f"{', '.join(value for _, value in identifiers) or '(no idNatSt nor FINESS)'}.",
                rule="gateway-finess-scope", expression=f"Bundle.entry[{index}].resource.identifier"))
    if not organisations:
        refused.append(single(
            "error", "forbidden",
            "Le Bundle ne contient pas d'entité juridique (Organization) : habilitation impossible à vérifier.",
            "The Bundle holds no legal entity (Organization): the producer's scope cannot be checked.",
            rule="gateway-finess-scope", expression="Bundle.entry"))
    if refused:
        raise Rejected(403, refused)
