"""Idempotent retries: each create becomes a conditional create on its business identifier.

A producer whose connection dropped resends the same bundle; HAPI then finds
each resource by ``ifNoneExist`` and answers ``200 OK`` instead of creating
it again. Concurrent twins are settled by HAPI's unique conditional-URL index,
which fails all but one with 409, and by ``gateway.hapi`` sending the losers
again, which then match the winner's resources.
"""
from __future__ import annotations

from urllib.parse import quote

INS_NIR = "urn:oid:1.2.250.1.213.1.4.8"
INS_NIA = "urn:oid:1.2.250.1.213.1.4.9"
ID_NAT_STRUCT = "urn:oid:1.2.250.1.71.4.2.2"
STAY_TYPE_SYSTEM = "https://interop.esante.gouv.fr/ig/fhir/tddui/CodeSystem/tddui-encounter-identifier"


def type_codes(identifier: dict) -> set[str]:
    return {coding.get("code") for coding in (identifier.get("type") or {}).get("coding") or []
            if isinstance(coding, dict)}


def business_identifier(resource: dict) -> dict | None:
    """The identifier that names this resource across submissions, in order of trust."""
    identifiers = [i for i in resource.get("identifier") or []
                   if isinstance(i, dict) and isinstance(i.get("value"), str) and i.get("value")]
    kind = resource.get("resourceType")
    if kind == "Patient":
        preferences = [lambda i: i.get("system") == INS_NIR, lambda i: i.get("system") == INS_NIA,
                       lambda i: "PI" in type_codes(i)]
    elif kind == "Organization":
        preferences = [lambda i: i.get("system") == ID_NAT_STRUCT]
    elif kind == "Encounter":
        preferences = [lambda i: "SEJ" in type_codes(i)]
    else:
        return None
    for prefers in preferences:
        for identifier in identifiers:
            if prefers(identifier) and identifier.get("system"):
                return identifier
    return None


def search_token(value: str) -> str:
    """Escape FHIR search separators, then percent-encode for the query string."""
    for special in ("\\", "|", ",", "$"):
        value = value.replace(special, "\\" + special)
    return quote(value, safe="")


def if_none_exist(identifier: dict) -> str:
    return f"identifier={search_token(identifier['system'])}|{search_token(identifier['value'])}"


def make_conditional(bundle: dict) -> dict:
    """Add ``request.ifNoneExist`` to every create that has a business identifier."""
    for entry in bundle.get("entry") or []:
        request, resource = entry.get("request"), entry.get("resource")
        if not isinstance(request, dict) or not isinstance(resource, dict) or request.get("method") != "POST":
            continue
        identifier = business_identifier(resource)
        if identifier and "ifNoneExist" not in request:
            request["ifNoneExist"] = if_none_exist(identifier)
    return bundle
