"""URIs in FHIR R4: what the ``uri`` regex (``\\S*``) cannot say.

- a ``urn:oid:`` or ``urn:uuid:`` value is an R4 ``oid`` or ``uuid``
  (datatypes.html: "uri ... urn:oid: ... urn:uuid:"), so their regexes apply;
- some elements SHALL hold an absolute URI: ``Coding.system``,
  ``Identifier.system``, ``Quantity.system`` (their R4 definitions),
  ``Extension.url`` but for a complex extension's own (extensibility.html) and ``Bundle.entry.fullUrl``
  (bundle.html: "fullUrl SHALL be an absolute URL ... or a urn:uuid / urn:oid");
- ``Bundle.entry.request.url`` is relative to the server root (bundle.html);
- a conditional create's ``ifNoneExist`` ``identifier=system|value`` is met
  by the resource it creates (HAPI answers 412 otherwise: http.html §3.1.0.8.1
  creates the resource only when nothing matches, so it must match itself);
- a RESTful ``fullUrl`` ends with the entry's ``Type/id`` and is not version
  specific (bundle.html §3.3.1).
"""
from __future__ import annotations

import re
from urllib.parse import parse_qsl

from gateway.conformance.r4_model import PrimitiveSpec

URI_TYPES = frozenset({"uri", "url", "canonical"})
ABSOLUTE_ELEMENTS = frozenset({"Coding.system", "Identifier.system", "Quantity.system", "Extension.url",
                               "Bundle.entry.fullUrl"})
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:\S")
_WEB = re.compile(r"https?://[^/?#\s]+(?:[/?#]\S*)?")
_RESTFUL_TAIL = re.compile(r"/([A-Z][A-Za-z]+)/([A-Za-z0-9\-\.]{1,64})$")
# HL7's cross-version extensions (``http://hl7.org/fhir/5.0/StructureDefinition/extension-Encounter.plannedEndDate``)
# exist for the other FHIR releases only: DSTU2, STU3, R4B and R5.
_CROSS_VERSION = re.compile(r"http://hl7\.org/fhir/([^/]+)/StructureDefinition/extension-.+")
CROSS_VERSIONS = frozenset({"1.0", "3.0", "4.3", "5.0"})


def short_oid(oid: str) -> bool:
    """An OID HL7's validator (so HAPI) refuses although R4's regex takes it: ``1.2.3``, ``2.999``.
    It wants the last dot at index 4 or later, or the ``1.3`` arc (a heuristic of its own)."""
    return oid.rfind(".") < 4 and not oid.startswith("1.3")


def urn_problem(value: str, primitives: dict[str, PrimitiveSpec]) -> str | None:
    """Why a ``urn:oid:``/``urn:uuid:`` value is not a valid R4 oid/uuid (None when it is)."""
    for prefix, type_code in (("urn:oid:", "oid"), ("urn:uuid:", "uuid")):
        spec = primitives.get(type_code)
        if value.startswith(prefix) and spec is not None and spec.regex is not None \
                and not spec.regex.fullmatch(value):
            return f"not a valid {type_code}"
    if value.startswith("urn:oid:") and short_oid(value[len("urn:oid:"):]):
        return "not a valid oid: too short to be registered (fewer than four arcs)"
    return None


def extension_url_problem(value: str) -> str | None:
    """Why an absolute ``Extension.url`` cannot name an extension definition (None when it can).

    The url is the definition's canonical: a fragment is no part of one (HAPI
    fails reading a version out of it), and a cross-version extension names a
    FHIR release that has them.
    """
    if "#" in value:
        return "a fragment (#) is no part of an extension's canonical url"
    cross_version = _CROSS_VERSION.fullmatch(value)
    if cross_version and cross_version.group(1) not in CROSS_VERSIONS:
        return (f"no FHIR release {cross_version.group(1)} has cross-version extensions "
                f"(known: {', '.join(sorted(CROSS_VERSIONS))})")
    return None


def absolute_problem(value: str) -> str | None:
    """Why ``value`` is not an absolute URI (None when it is)."""
    if not _SCHEME.match(value):
        return "not an absolute URI"
    if value.lower().startswith(("http:", "https:")) and not _WEB.fullmatch(value):
        return "not an absolute http(s) URL"
    return None


def full_url_problem(full_url: str, resource: dict) -> str | None:
    """Why ``full_url`` is not a urn nor a RESTful URL naming its entry's resource (None when it is)."""
    if full_url.startswith(("urn:uuid:", "urn:oid:")):
        return None
    if not full_url.startswith(("http://", "https://")):
        return "a fullUrl is a urn:uuid:, a urn:oid: or an http(s) URL"
    if "/_history/" in full_url:
        return "a fullUrl is not version specific"
    kind, rid = resource.get("resourceType"), resource.get("id")
    if not isinstance(kind, str):
        return None
    if rid is None:
        return "a RESTful fullUrl names a resource that has an id"
    if not isinstance(rid, str):
        return None
    tail = _RESTFUL_TAIL.search(full_url)
    if tail is None or tail.groups() != (kind, rid):
        return f"a RESTful fullUrl ends with {kind}/{rid}"
    return None


def matches_own_identifier(condition: str, resource: dict) -> bool:
    """Whether each ``identifier=system|value`` of ``condition`` is one of the
    resource's own identifiers (other search parameters are left to HAPI)."""
    identifiers = resource.get("identifier") if isinstance(resource.get("identifier"), list) else []
    own = {(i.get("system"), i.get("value")) for i in identifiers if isinstance(i, dict)}
    own_values = {value for _system, value in own}
    for name, token in parse_qsl(condition.partition("?")[2] or condition, keep_blank_values=True):
        if name != "identifier":
            continue
        system, bar, value = token.rpartition("|")
        if (system, value) not in own if bar else value not in own_values:
            return False
    return True
