"""Invariants evaluated in plain Python instead of FHIRPath, for speed.

``ele-1`` and ``ext-1`` hold on every element; ``bdl-3``, ``bdl-4`` and
``bdl-7`` loop over every entry of the Bundle: through fhirpathpy they cost
about 50 µs per entry each. The others run once per entry or resource, at
20-170 µs each through fhirpathpy. Each twin is keyed by (key, exact
expression text), so a profile that words an invariant differently still goes
through FHIRPath; tests/conformance/test_python_invariants.py checks that each
twin gives the verdict of the compiled FHIRPath on the test cases and their
edge cases.

A twin may answer ``None`` (UNDECIDED) on a shape it does not model exactly
(a ``_name`` primitive extension, a wrong JSON type, contained resources for
``dom-3``): the compiled FHIRPath then decides, so the twins stay small.
"""
from __future__ import annotations

import re
from datetime import date
from functools import partial
from typing import Any, Callable

ELE_1 = ("ele-1", "hasValue() or (children().count() > id.count())")  # in base_check, on every node
EXT_1 = ("ext-1", "extension.exists() != value.exists()")
BDL_3 = ("bdl-3", "entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = 'transaction' "
                  "or %resource.type = 'history'))")
BDL_4 = ("bdl-4", "entry.all(response.exists() = (%resource.type = 'batch-response' or "
                  "%resource.type = 'transaction-response' or %resource.type = 'history'))")
BDL_7 = ("bdl-7", "(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId)"
                  ".isDistinct()")
BDL_5 = ("bdl-5", "resource.exists() or request.exists() or response.exists()")
BDL_8 = ("bdl-8", "fullUrl.contains('/_history/').not()")
DOM_3 = ("dom-3", "contained.where((('#'+id in (%resource.descendants().reference | %resource.descendants().as(canonical) "
                  "| %resource.descendants().as(uri) | %resource.descendants().as(url))) or descendants().where(reference = '#')"
                  ".exists() or descendants().where(as(canonical) = '#').exists() or descendants().where(as(canonical) = '#')"
                  ".exists()).not()).trace('unmatched', id).empty()")
DOM_6 = ("dom-6", "text.`div`.exists()")
ORG_1 = ("org-1", "(identifier.count() + name.count()) > 0")
REF_1 = ("ref-1", "reference.startsWith('#').not() or (reference.substring(1).trace('url') in "
                 "%rootResource.contained.id.trace('ids'))")
PER_1 = ("per-1", "start.hasValue().not() or end.hasValue().not() or (start <= end)")
# fr-core-1 and its kind: "(extension.where(url= 'R').extension.where(url = 'S').value.code = 'C')
# implies (identifier.where(system = 'A').exists() or ...)". The urls, code and systems are read
# from the expression itself, so no IG's canonical or OID is written here.
STATUS_IMPLIES_IDENTIFIER = re.compile(
    r"\(extension\.where\(url ?= ?'(?P<outer>[^']+)'\)\.extension\.where\(url ?= ?'(?P<inner>[^']+)'\)"
    r"\.value\.code ?= ?'(?P<code>[^']+)'\) implies \((?P<systems>identifier\.where\(system ?= ?'[^']+'\)\.exists\(\)"
    r"(?: or identifier\.where\(system ?= ?'[^']+'\)\.exists\(\))*)\)")

UNDECIDED = None


def _entries(bundle: Any) -> list:
    entries = bundle.get("entry") if isinstance(bundle, dict) else None
    return entries if isinstance(entries, list) else ([entries] if isinstance(entries, dict) else [])


def _exists(element: Any, name: str) -> bool:
    """FHIRPath ``name.exists()`` as fhirpathpy navigates JSON (``{}`` exists)."""
    return isinstance(element, dict) and element.get(name) is not None and element.get(name) != []


def _all_entries_have(name: str, when_types: set[str]) -> Callable[[Any], bool]:
    """``entry.all(name.exists() = (%resource.type in when_types))``; an absent
    type makes the comparison empty, so any entry fails it."""
    def holds(bundle: Any) -> bool:
        bundle_type = bundle.get("type") if isinstance(bundle, dict) else None
        entries = _entries(bundle)
        if not isinstance(bundle_type, str):
            return not entries
        expected = bundle_type in when_types
        return all(_exists(entry, name) == expected for entry in entries)
    return holds


def _full_url_and_version_distinct(bundle: Any) -> bool:
    if isinstance(bundle, dict) and bundle.get("type") == "history":
        return True
    keys = []
    for entry in _entries(bundle):
        if not _exists(entry, "fullUrl"):
            continue
        resource = entry.get("resource") if isinstance(entry.get("resource"), dict) else {}
        meta = resource.get("meta") if isinstance(resource.get("meta"), dict) else {}
        keys.append(f"{entry['fullUrl']}{meta.get('versionId') or ''}")
    return len(keys) == len(set(keys))


def _extension_has_value_xor_extensions(element: Any) -> bool:
    return isinstance(element, dict) and bool(element.get("extension")) != any(
        key.startswith("value") for key in element)


def _is_some(value: Any) -> bool:
    return value is not None and value != []


def _navigates_to(element: dict, name: str) -> bool:
    """FHIRPath ``name.exists()`` exactly as fhirpathpy navigates JSON: the
    value or its ``_name`` object counts ({}, "" and false exist)."""
    return _is_some(element.get(name)) or _is_some(element.get("_" + name))


def _plain_string(element: dict, name: str) -> str | None | bool:
    """The string value of a primitive without ``_name``; None when absent;
    False for any other shape (the caller then leaves it to FHIRPath)."""
    if "_" + name in element:
        return False
    value = element.get(name)
    return value if value is None or isinstance(value, str) else False


def _null_beside_extras(element: Any, name: str) -> bool:
    """``"name": null`` beside ``"_name"``: R4 json.html allows null only inside arrays, and the
    R4 pass reports it (``fhir-json-null``); fhirpathpy raises on it, so an invariant has no verdict."""
    return isinstance(element, dict) and name in element and element[name] is None and "_" + name in element


def _entry_has_content(entry: Any) -> bool | None:
    if not isinstance(entry, dict):
        return UNDECIDED
    return any(_navigates_to(entry, name) for name in ("resource", "request", "response"))


def _full_url_not_a_version(entry: Any) -> bool | None:
    """Without fullUrl the result is empty, which fails (as in HAPI).

    A fullUrl that is not one string (an object, a number, a boolean, an
    array with a non-string or with several items) holds here. FHIRPath's
    ``contains()`` accepts a single String only and, by the specification,
    ends the evaluation with an error on anything else (fhirpathpy raises):
    bdl-8 has no verdict on such a value, while the R4 pass (JSON type) or the
    Bundle profile (``0..1``) already reports the element itself, at
    ``Bundle.entry[i].fullUrl``. Leaving the shape to FHIRPath would only add
    an ``exception`` error and a stack trace to the log.
    """
    if _null_beside_extras(entry, "fullUrl"):
        return True
    if isinstance(entry, dict) and entry.get("fullUrl") is not None:
        value = entry["fullUrl"]
        items = value if isinstance(value, list) else [value]
        if len(items) > 1 or not all(isinstance(item, str) for item in items):
            return True
    full_url = _plain_string(entry, "fullUrl") if isinstance(entry, dict) else False
    if full_url is False:
        return UNDECIDED
    return full_url is not None and "/_history/" not in full_url


def _strings(value: Any):
    """Every string anywhere in a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def _contained_referenced(resource: Any) -> bool | None:
    """dom-3: each contained resource is referenced from the resource
    (``#id`` in a reference, canonical or uri), or refers to its container
    (``#``). fhirpathpy 2.2.4 raises on the expression whenever something is
    contained (``descendants().as(canonical)``), so this twin is the verdict
    there; any string equal to ``#id`` counts, where FHIRPath counts only
    references, canonicals and uris (a string ``#id`` elsewhere would be odd)."""
    if not isinstance(resource, dict):
        return UNDECIDED
    if not _navigates_to(resource, "contained"):
        return True
    contained = resource.get("contained")
    if isinstance(contained, dict):
        contained = [contained]  # one object where R4 wants an array: the R4 pass says so; fhirpathpy raises
    if not isinstance(contained, list) or not all(isinstance(item, dict) for item in contained) \
            or "_contained" in resource:
        return UNDECIDED
    found = set(_strings(resource))
    for item in contained:
        own_id = item.get("id")
        if isinstance(own_id, str) and "#" + own_id in found:
            continue
        if "#" in set(_strings(item)):
            continue
        return False
    return True


def _not_a_local_reference(reference: Any) -> bool | None:
    """ref-1 holds unless ``reference`` is a local ``#id`` (then FHIRPath looks
    the id up among the contained resources). A reference that is not one
    string holds: fhirpathpy raises on ``startsWith`` there, while the R4 pass
    already reports the JSON type at that element."""
    if not isinstance(reference, dict):
        return UNDECIDED
    if _null_beside_extras(reference, "reference"):
        return True
    value = _plain_string(reference, "reference")
    if value is False:
        return True if not isinstance(reference.get("reference"), (str, type(None))) else UNDECIDED
    return True if value is None or not value.startswith("#") else UNDECIDED


def _narrative_has_div(resource: Any) -> bool | None:
    text = resource.get("text") if isinstance(resource, dict) else None
    if not isinstance(text, dict):
        return UNDECIDED
    return _navigates_to(text, "div")


def _organization_identified_or_named(organization: Any) -> bool | None:
    if not isinstance(organization, dict):
        return UNDECIDED
    return _navigates_to(organization, "identifier") or _navigates_to(organization, "name")


def _full_date(text: str) -> bool:
    if len(text) != 10 or text[4] != "-" or text[7] != "-":
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def _period_ordered(period: Any) -> bool | None:
    """Only two full dates are compared here: other precisions follow fhirpathpy."""
    if not isinstance(period, dict):
        return UNDECIDED
    start, end = _plain_string(period, "start"), _plain_string(period, "end")
    if start is False or end is False:
        return UNDECIDED
    if start is None or end is None:
        return True  # hasValue() is false on one side
    return start <= end if _full_date(start) and _full_date(end) else UNDECIDED


def _dicts(element: dict, name: str) -> list[dict] | None:
    """A repeating complex element's items; None when it is not a list of objects."""
    items = element.get(name, [])
    if isinstance(items, list) and all(isinstance(item, dict) for item in items) and "_" + name not in element:
        return items
    return None


def _with_url(extensions: list[dict], url: str) -> list[dict] | None:
    if any(_plain_string(e, "url") is False for e in extensions):
        return None
    return [e for e in extensions if e.get("url") == url]


def _status_codes(resource: dict, outer_url: str, inner_url: str) -> list[str] | None:
    """``extension(outer).extension(inner).value.code``, for valueCoding
    extensions only; None for any other shape."""
    extensions = _dicts(resource, "extension")
    reliability = _with_url(extensions, outer_url) if extensions is not None else None
    if reliability is None:
        return None
    codes = []
    for outer in reliability:
        inner = _dicts(outer, "extension")
        statuses = _with_url(inner, inner_url) if inner is not None else None
        if statuses is None:
            return None
        for status in statuses:
            if any(key != "valueCoding" and key.lstrip("_").startswith("value") for key in status):
                return None
            coding = status.get("valueCoding")
            if coding is None:
                continue
            code = _plain_string(coding, "code") if isinstance(coding, dict) else False
            if code is False:
                return None
            if code is not None:
                codes.append(code)
    return codes


def _status_implies_identifier(outer_url: str, inner_url: str, status: str, wanted: frozenset[str],
                               resource: Any) -> bool | None:
    """fr-core-1: an identity whose status is VALI carries an INS identifier."""
    if not isinstance(resource, dict):
        return UNDECIDED
    codes = _status_codes(resource, outer_url, inner_url)
    identifiers = _dicts(resource, "identifier")
    if codes is None or identifiers is None:
        return UNDECIDED
    systems = [_plain_string(identifier, "system") for identifier in identifiers]
    if False in systems:
        return UNDECIDED
    if any(system in wanted for system in systems):
        return True
    # implies: true only when its left side is false; `=` of several codes to one is false
    return bool(codes) and codes != [status]


PYTHON_INVARIANTS: dict[tuple[str, str], Callable[[Any], bool | None]] = {
    EXT_1: _extension_has_value_xor_extensions,
    BDL_3: _all_entries_have("request", {"batch", "transaction", "history"}),
    BDL_4: _all_entries_have("response", {"batch-response", "transaction-response", "history"}),
    BDL_5: _entry_has_content,
    BDL_7: _full_url_and_version_distinct,
    BDL_8: _full_url_not_a_version,
    DOM_3: _contained_referenced,
    DOM_6: _narrative_has_div,
    ORG_1: _organization_identified_or_named,
    PER_1: _period_ordered,
    REF_1: _not_a_local_reference,
}


def python_twin(key: str, expression: str) -> Callable[[Any], bool | None] | None:
    """The Python twin of an invariant: by exact text, or by the shape of its expression."""
    twin = PYTHON_INVARIANTS.get((key, expression))
    if twin is not None:
        return twin
    shape = STATUS_IMPLIES_IDENTIFIER.fullmatch(expression)
    if shape:
        systems = frozenset(re.findall(r"system ?= ?'([^']+)'", shape["systems"]))
        return partial(_status_implies_identifier, shape["outer"], shape["inner"], shape["code"], systems)
    return None
