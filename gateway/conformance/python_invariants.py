"""Invariants evaluated in plain Python instead of FHIRPath, for speed.

``ele-1`` and ``ext-1`` hold on every element; ``bdl-3``, ``bdl-4`` and
``bdl-7`` loop over every entry of the Bundle: through fhirpathpy they cost
about 50 µs per entry each. Each twin is keyed by (key, exact expression text),
so a profile that words an invariant differently still goes through FHIRPath;
tests/conformance/test_python_invariants.py checks that each twin gives the
verdict of the compiled FHIRPath on the test cases and their edge cases.
"""
from __future__ import annotations

from typing import Any, Callable

ELE_1 = ("ele-1", "hasValue() or (children().count() > id.count())")  # in base_check, on every node
EXT_1 = ("ext-1", "extension.exists() != value.exists()")
BDL_3 = ("bdl-3", "entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = 'transaction' "
                  "or %resource.type = 'history'))")
BDL_4 = ("bdl-4", "entry.all(response.exists() = (%resource.type = 'batch-response' or "
                  "%resource.type = 'transaction-response' or %resource.type = 'history'))")
BDL_7 = ("bdl-7", "(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId)"
                  ".isDistinct()")


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


PYTHON_INVARIANTS: dict[tuple[str, str], Callable[[Any], bool]] = {
    EXT_1: _extension_has_value_xor_extensions,
    BDL_3: _all_entries_have("request", {"batch", "transaction", "history"}),
    BDL_4: _all_entries_have("response", {"batch-response", "transaction-response", "history"}),
    BDL_7: _full_url_and_version_distinct,
}
