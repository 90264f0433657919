"""Stage 6: the receipt, i.e. how an accepted bundle is stored, decided as one request mutation.

``decide`` returns a ``RequestMutation`` (the model is google/fhir-gateway's
``AccessDecision`` / ``RequestMutation``): the transaction to forward and how
to post-process HAPI's answer. The pipeline applies it in one place.

Upsert (the default): each entry with a business identifier becomes
``PUT Type?identifier=a|1,b|2&_tag=<legal entity>``, so HAPI, inside the one
transaction, creates it (201), leaves it untouched when nothing changed (200,
same version) or writes a new version (200, version + 1); two stored matches
fail the whole transaction with 412. The legal entity's tag is in the URL and
on every resource, so a record is only ever matched within its own entity.
Producer ids and fullUrls are replaced by ``urn:uuid:`` fullUrls (references
rewritten to them), so HAPI assigns its own ids and no producer can name, and
overwrite, a stored id. The audit Provenance rides in the same transaction and
is removed from the producer's answer.
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import quote, unquote

from gateway import audit
from gateway.auth import LegalEntity
from gateway.conformance.references import BundleIndex
from gateway.descriptor import IdentifierPattern

LEGAL_ENTITY_TAG_SYSTEM = "https://github.com/tddui-gateway/legal-entity"
RECEIPT_MODES = ("upsert", "create")


@dataclass(frozen=True)
class RequestMutation:
    """What HAPI is sent instead of the producer's bundle, and how its answer is cut back."""

    transaction: dict
    answered_entries: int        # HAPI's answer holds these first, then the audit Provenance and AuditEvent
    conditional_urls: tuple[str | None, ...]

    def post_process(self, response: dict) -> dict:
        """The transaction-response the producer gets: one entry per entry sent, in order."""
        return {**response, "entry": list(response.get("entry") or [])[:self.answered_entries]}

    def entry_of_conditional_url(self, text: str) -> int | None:
        """The entry whose conditional URL HAPI names in a diagnostic (for a 412 on a double match)."""
        for index, url in enumerate(self.conditional_urls):
            if url and (url in text or unquote(url) in text):
                return index
        return None


def scope_tag(legal_entity: str) -> dict:
    return {"system": LEGAL_ENTITY_TAG_SYSTEM, "code": legal_entity}


def search_token(value: str) -> str:
    """Escape FHIR search separators, then percent-encode for the query string."""
    for special in ("\\", "|", ",", "$"):
        value = value.replace(special, "\\" + special)
    return quote(value, safe="")


def business_identifiers(resource: dict, patterns: tuple[IdentifierPattern, ...]) -> list[dict]:
    """The resource's identifiers that fill one of its type's business-identifier slices."""
    found = []
    for identifier in resource.get("identifier") or []:
        if any(pattern.matches(identifier) for pattern in patterns) and identifier.get("value") \
                and identifier not in found:
            found.append(identifier)
    return found


def conditional_url(resource_type: str, identifiers: list[dict], tag: dict) -> str:
    """``Type?identifier=s|v,s|v&_tag=s|c``: any of the identifiers, within the legal entity."""
    tokens = ",".join(f"{search_token(i['system'])}|{search_token(i['value'])}" if i.get("system")
                      else search_token(i["value"]) for i in identifiers)
    return f"{resource_type}?identifier={tokens}&_tag={search_token(tag['system'])}|{search_token(tag['code'])}"


def receipt_full_url(submission: str, index: int) -> str:
    """A stable ``urn:uuid:`` per entry, so the same submission is forwarded byte for byte the same."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"{submission}#{index}").urn


def rewrite_references(node, new_reference):
    """A copy of ``node`` in which every ``reference`` that names an entry points at its new fullUrl."""
    if isinstance(node, dict):
        copied = {key: rewrite_references(value, new_reference) for key, value in node.items()}
        if isinstance(node.get("reference"), str):
            copied["reference"] = new_reference(node["reference"])
        return copied
    if isinstance(node, list):
        return [rewrite_references(value, new_reference) for value in node]
    return node


def decide(bundle: dict, mode: str, legal_entity: LegalEntity, identifier_slices: dict[str, tuple[IdentifierPattern, ...]],
           producer_id: str, submission: str, bundle_profiles: frozenset[str], audit_event: dict) -> RequestMutation:
    """The one decision on how to store an accepted bundle.

    ``bundle_profiles`` are dropped from the forwarded Bundle's ``meta.profile``:
    TDDUIBundle fixes ``request.method`` to POST, which the conditional updates
    are not; each resource keeps its own profile, so HAPI still validates every
    resource against it. The gateway has checked TDDUIBundle on what was sent.
    """
    tag = scope_tag(legal_entity.id_nat_st)
    entries = bundle.get("entry") or []
    index = BundleIndex(bundle)
    position = {id(entry["resource"]): number for number, entry in enumerate(entries)}
    new_urls = [receipt_full_url(submission, number) for number in range(len(entries))]

    def new_reference(reference: str) -> str:
        target = index.resolve(reference)
        return new_urls[position[id(target)]] if target is not None and id(target) in position else reference

    forwarded, conditional_urls = [], []
    for number, entry in enumerate(entries):
        resource = rewrite_references(entry["resource"], new_reference)
        resource.pop("id", None)
        meta = dict(resource.get("meta") or {})
        meta["tag"] = [*(meta.get("tag") or []), tag]
        resource["meta"] = meta
        kind = resource["resourceType"]
        identifiers = business_identifiers(resource, identifier_slices.get(kind, ()))
        url = conditional_url(kind, identifiers, tag) if mode == "upsert" and identifiers else None
        conditional_urls.append(url)
        forwarded.append({"fullUrl": new_urls[number], "resource": resource,
                          "request": {"method": "PUT", "url": url} if url else {"method": "POST", "url": kind}})

    provenance = audit.provenance_entry(new_urls, producer_id, legal_entity.identifier, tag, submission)
    audit_entry = {"fullUrl": uuid.uuid5(uuid.NAMESPACE_URL, f"{submission}#{audit_event['recorded']}").urn,
                   "resource": audit_event, "request": {"method": "POST", "url": "AuditEvent"}}
    meta = dict(bundle.get("meta") or {})
    profiles = [p for p in meta.get("profile") or [] if p.partition("|")[0] not in bundle_profiles]
    meta = {**{k: v for k, v in meta.items() if k != "profile"}, **({"profile": profiles} if profiles else {})}
    transaction = {**{k: v for k, v in bundle.items() if k not in ("entry", "meta", "id")},
                   **({"meta": meta} if meta else {}), "entry": [*forwarded, provenance, audit_entry]}
    return RequestMutation(transaction, len(entries), tuple(conditional_urls))
