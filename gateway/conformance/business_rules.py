"""Flux rules the profiles cannot express, compiled from the IG-version
descriptor's ``[[business_rules]]`` rows (docs/business-rules.md).

A row is FHIRPath where FHIRPath can say it (evaluated on each node its
``context`` selects, with %resource the Bundle), or names one of the checks of
``NAMED_CHECKS`` below, for what needs the engine's own knowledge: the profile
each entry is checked against, reference resolution inside the Bundle, the INS
slices, an issue named on the second of two entries only.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterator

from gateway.conformance.errors import EngineStartupError
from gateway.conformance.fhirpath import CompiledExpression, FhirPath, is_true, typed_node
from gateway.descriptor import BusinessRuleRow, IdentifierPattern
from gateway.outcome import Issue, Message


@dataclass
class BundleView:
    """What the rules look at: the normalised bundle and what the engine
    already knows about it."""

    bundle: dict
    entry_profiles: list[str | None]           # profile each entry is checked against
    flow_profiles: dict[str, str]              # Flux entry profile canonical -> its name
    references: list[tuple[str, str]]          # (reference, expression) found in the entries
    resolve: Callable[[str], dict | None]
    has_ins: Callable[[dict], bool]
    ins_profile: str | None
    business_identifiers: dict[str, tuple[IdentifierPattern, ...]]   # resource type -> its identifier slices

    @property
    def entries(self) -> list:
        entries = self.bundle.get("entry")
        return entries if isinstance(entries, list) else []


# A named check yields (expression, French text, English text) for each place it refuses;
# the expression is a tuple when one issue names several elements (the first is the issue's own).
Finding = tuple[str | tuple[str, ...], str, str]


def flow_profiles(view: BundleView) -> Iterator[Finding]:
    names = ", ".join(sorted(view.flow_profiles.values()))
    for index, entry in enumerate(view.entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and view.entry_profiles[index] not in view.flow_profiles:
            yield (f"Bundle.entry[{index}].resource",
                   f"Ressource {resource.get('resourceType')} non prévue par le flux 1 (profils utilisables : {names}).",
                   f"Resource {resource.get('resourceType')} is not part of Flux 1 (usable profiles: {names}).")


def references_resolve(view: BundleView) -> Iterator[Finding]:
    for reference, expression in view.references:
        if not reference.startswith("#") and view.resolve(reference) is None:
            yield (expression,
                   f"La référence {reference!r} ne correspond à aucune entrée du Bundle (fullUrl ou Type/id).",
                   f"Reference {reference!r} matches no entry of the Bundle (fullUrl or Type/id).")


def _full_url(entry) -> str | None:
    """An entry's fullUrl when it is a string: any other JSON type is reported
    by the R4 pass (and an object or list cannot be counted)."""
    full_url = entry.get("fullUrl") if isinstance(entry, dict) else None
    return full_url if isinstance(full_url, str) else None


def unique_full_urls(view: BundleView) -> Iterator[Finding]:
    full_urls = [_full_url(entry) for entry in view.entries]
    repeated = {url for url, count in Counter(u for u in full_urls if u).items() if count > 1}
    seen = set()
    for index, url in enumerate(full_urls):
        if url in repeated:
            if url in seen:
                yield (f"Bundle.entry[{index}].fullUrl",
                       f"Le fullUrl {url!r} est déjà utilisé par une autre entrée.",
                       f"fullUrl {url!r} is already used by another entry.")
            seen.add(url)


def ins_patient_profile(view: BundleView) -> Iterator[Finding]:
    if view.ins_profile is None:
        return
    name = view.flow_profiles.get(view.ins_profile, view.ins_profile)
    for index, entry in enumerate(view.entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        profile = view.entry_profiles[index]
        if isinstance(resource, dict) and profile in view.flow_profiles and profile != view.ins_profile \
                and view.has_ins(resource):
            yield (f"Bundle.entry[{index}].resource.meta.profile",
                   f"Un usager dont l'INS est transmis doit l'être avec le profil {name}.",
                   f"A patient sent with an INS must use profile {name}.")


def unique_business_identifiers(view: BundleView) -> Iterator[Finding]:
    """Two entries of one type sharing a business identifier would name one stored record twice.

    A bundle has one legal entity, so "within the legal entity" is "within the
    bundle". One pass with a dict: linear in the identifiers, whatever the size.
    """
    first_seen: dict[tuple[str, str | None, str], tuple[int, str]] = {}
    reported: set[tuple[int, int]] = set()
    for index, entry in enumerate(view.entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("identifier"), list):
            continue
        kind = resource.get("resourceType")
        patterns = view.business_identifiers.get(kind, ()) if isinstance(kind, str) else ()
        for number, identifier in enumerate(resource["identifier"]):
            # a malformed system (not a string) is the R4 pass's to report; it names no record
            if not any(pattern.matches(identifier) for pattern in patterns) \
                    or not isinstance(identifier.get("system"), (str, type(None))):
                continue
            here = f"Bundle.entry[{index}].resource.identifier[{number}]"
            earlier_index, earlier = first_seen.setdefault((kind, identifier.get("system"), identifier["value"]),
                                                           (index, here))
            if earlier_index == index or (earlier_index, index) in reported:
                continue
            reported.add((earlier_index, index))
            shown = f"{identifier.get('system') or ''}|{identifier['value']}"
            yield ((here, earlier),
                   f"L'identifiant métier {shown} est déjà porté par une autre ressource {kind} du Bundle "
                   f"(Bundle.entry[{earlier_index}]) : les deux entrées désigneraient le même enregistrement.",
                   f"Business identifier {shown} is already carried by another {kind} of the Bundle "
                   f"(Bundle.entry[{earlier_index}]): both entries would name the same stored record.")


NAMED_CHECKS: dict[str, Callable[[BundleView], Iterator[Finding]]] = {
    "flow_profiles": flow_profiles,
    "references_resolve": references_resolve,
    "unique_full_urls": unique_full_urls,
    "ins_patient_profile": ins_patient_profile,
    "unique_business_identifiers": unique_business_identifiers,
}


def _nodes(bundle: dict, context: str | None) -> list[tuple[str, object]]:
    """``(expression, JSON value)`` of each node a context path selects, arrays indexed."""
    found = [("Bundle", bundle)]
    for name in (context.split(".") if context else ()):
        step = []
        for expression, value in found:
            child = value.get(name) if isinstance(value, dict) else None
            if isinstance(child, list):
                step += [(f"{expression}.{name}[{i}]", item) for i, item in enumerate(child)]
            elif child is not None:
                step.append((f"{expression}.{name}", child))
        found = step
    return found


def _at(value, location: str | None):
    for name in (location.split(".") if location else ()):
        value = value.get(name) if isinstance(value, dict) else None
    return value


@dataclass(frozen=True)
class BusinessRule:
    """One descriptor row, ready to run."""

    row: BusinessRuleRow
    compiled: CompiledExpression | None = None

    def check(self, view: BundleView) -> Iterator[Issue]:
        row = self.row
        if row.check is not None:
            for expression, fr, en in NAMED_CHECKS[row.check](view):
                own, *related = (expression,) if isinstance(expression, str) else expression
                yield Issue("error", row.code, Message(fr, en), own, row.id, tuple(related))
            return
        type_path = "Bundle" + (f".{row.context}" if row.context else "")
        for expression, node in _nodes(view.bundle, row.context):
            if not is_true(self.compiled(typed_node(node, type_path) if row.context else node, view.bundle)):
                value = repr(_at(node, row.location))
                yield Issue("error", row.code, Message(row.fr.replace("{value}", value), row.en.replace("{value}", value)),
                            f"{expression}.{row.location}" if row.location else expression, row.id)


def compile_rules(rows: tuple[BusinessRuleRow, ...], fhirpath: FhirPath, source: str) -> tuple[BusinessRule, ...]:
    """Each row checked and compiled once, at start-up."""
    rules = []
    for row in rows:
        if row.check is not None:
            if row.check not in NAMED_CHECKS:
                raise EngineStartupError(f"{source}: business rule {row.id} names an unknown check {row.check!r} "
                                         f"(known: {', '.join(sorted(NAMED_CHECKS))})")
            rules.append(BusinessRule(row))
        else:
            rules.append(BusinessRule(row, fhirpath.compile(row.expression, f"{source} business rule {row.id}")))
    return tuple(rules)
