"""Checks every element against FHIR R4 itself, through fhirpathpy's R4 model:
unknown elements, JSON shape of primitives and their lexical form, ``ele-1``,
codes of CodeSystems the packages define completely, and the R4 datatype
invariants the snapshots do not repeat.

One pass in plain Python over the whole bundle: this is where ``ele-1``
(an invariant on every element) is evaluated, at a fraction of FHIRPath's cost.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

from gateway.conformance.findings import Findings
from gateway.conformance.fhirpath import R4, typed_node
from gateway.conformance.primitives import PRIMITIVE_TYPES, primitive_problem
from gateway.conformance.structure import Invariant

PATH_TYPES: dict[str, str] = R4["path2Type"]
ELSEWHERE: dict[str, str] = R4["pathsDefinedElsewhere"]
RESOURCE_TYPES = {name for name, parent in R4["type2Parent"].items() if parent in ("DomainResource", "Resource")}
RESOURCE_TYPES |= {"Resource", "DomainResource", "Bundle", "Binary", "Parameters"}
BACKBONE_PATHS = {path.rpartition(".")[0] for path in PATH_TYPES if path.count(".") >= 2}
_NOT_CONTENT = frozenset({"id", "resourceType", "fhir_comments"})  # an element with only these fails ele-1


def _type_code(choice_type: str) -> str:
    lowered = choice_type[:1].lower() + choice_type[1:]
    return lowered if lowered in PRIMITIVE_TYPES else choice_type


# "Observation.valueQuantity" -> ("value", "Quantity"), for every R4 choice element
CHOICE_KEYS: dict[str, tuple[str, str]] = {
    f"{path}{choice}": (path.rpartition(".")[2], _type_code(choice))
    for path, choices in R4["choiceTypePaths"].items() for choice in choices
}


def element_type(type_path: str, key: str) -> tuple[str, str, str | None] | None:
    """(FHIRPath name, R4 type, type of the choice or None) of ``key`` under
    ``type_path``; None when R4 has no such element. Backbone elements get
    their own path as type."""
    path = f"{type_path}.{key}"
    path = ELSEWHERE.get(path, path)
    choice = CHOICE_KEYS.get(path)
    if choice is not None:
        return choice[0], choice[1], choice[1]
    found = PATH_TYPES.get(path)
    if found is not None:
        return key, ("string" if found.startswith("System.") else found), None
    if path in BACKBONE_PATHS:
        return key, path, None
    return None


def _inherited(type_path: str) -> str | None:
    """The parent type whose elements ``type_path`` also has (Resource.id...)."""
    parent = R4["type2Parent"].get(type_path)
    return parent if parent else ("BackboneElement" if type_path in BACKBONE_PATHS else None)


@lru_cache(maxsize=65536)
def resolve_key(type_path: str, key: str):
    """``element_type`` looked up through the type's ancestors (memoised:
    the R4 model does not change while the process runs)."""
    current = type_path
    while current:
        found = element_type(current, key)
        if found is not None:
            return found
        current = _inherited(current)
    return None


@dataclass
class _Walk:
    findings: Findings
    resource: dict
    references: list[tuple[str, str]]


class BaseChecker:
    """Walks JSON with R4 types; reports what FHIR R4 itself forbids."""

    def __init__(self, known_codes: Callable[[str], frozenset[str] | None],
                 datatype_invariants: dict[str, tuple[Invariant, ...]]):
        self._known_codes = known_codes
        self._datatype_invariants = datatype_invariants

    def check_resource(self, resource: Any, expression: str, findings: Findings,
                       references: list[tuple[str, str]]) -> None:
        """Check ``resource`` and collect its ``(reference, expression)`` pairs
        into ``references`` for the bundle-level rules."""
        walk = _Walk(findings, resource if isinstance(resource, dict) else {}, references)
        self._resource(resource, expression, walk)

    def _resource(self, resource: Any, expression: str, walk: "_Walk") -> None:
        findings = walk.findings
        if not isinstance(resource, dict):
            findings.add("error", "structure", "Une ressource FHIR (objet JSON) est attendue.",
                         "A FHIR resource (JSON object) is expected.", expression, "fhir-json")
            return
        resource_type = resource.get("resourceType")
        if not isinstance(resource_type, str) or resource_type not in RESOURCE_TYPES:  # a list/object is not hashable
            shown = _shorten(resource_type)
            findings.add("error", "structure", f"Type de ressource inconnu en FHIR R4 : {shown}.",
                         f"Unknown FHIR R4 resource type: {shown}.", expression, "fhir-resource-type")
            return
        self._complex(resource, resource_type, expression, walk)

    def _complex(self, element: dict, type_path: str, expression: str, walk: "_Walk"):
        findings = walk.findings
        if _NOT_CONTENT.issuperset(element):
            findings.add("error", "invariant", "Tout élément FHIR doit avoir une valeur ou des enfants (ele-1).",
                         "All FHIR elements must have a @value or children (ele-1).", expression, "ele-1")
        for key, value in element.items():
            if key in ("resourceType", "fhir_comments"):
                continue
            plain = key[1:] if key.startswith("_") else key
            if key.startswith("_") and plain in element:
                continue  # visited with its value
            found = resolve_key(type_path, plain)
            if found is None:
                findings.add("error", "structure", f"Élément inconnu en FHIR R4 : {plain}.",
                             f"Unrecognised FHIR R4 element: {plain}.", f"{expression}.{plain}", "fhir-element")
                continue
            name, element_type_code, _ = found
            extras = element.get("_" + plain)
            self._element(value if not key.startswith("_") else None, extras, element_type_code,
                          f"{expression}.{name}", walk)

    def _element(self, value, extras, type_code: str, expression: str, walk: "_Walk"):
        findings = walk.findings
        if value is not None and extras is not None and isinstance(value, list) != isinstance(extras, list):
            # the value that is not in the array would otherwise go unchecked
            findings.add("error", "structure", f"{expression} et son élément _ doivent être tous deux des tableaux ou aucun.",
                         f"{expression} and its _ element must both be arrays or neither.", expression, "fhir-json")
        if isinstance(value, list) or isinstance(extras, list):
            values = value if isinstance(value, list) else []
            extra_list = extras if isinstance(extras, list) else []
            if not values and not extra_list:
                findings.add("error", "structure", "Un tableau JSON FHIR ne peut pas être vide.",
                             "A FHIR JSON array cannot be empty.", expression, "fhir-json")
            for index in range(max(len(values), len(extra_list))):
                self._item(values[index] if index < len(values) else None,
                           extra_list[index] if index < len(extra_list) else None,
                           type_code, f"{expression}[{index}]", walk)
        else:
            self._item(value, extras, type_code, expression, walk)

    def _item(self, value, extras, type_code: str, expression: str, walk: "_Walk"):
        findings = walk.findings
        if type_code in PRIMITIVE_TYPES:
            if value is None and not extras:
                findings.add("error", "invariant", "Tout élément FHIR doit avoir une valeur ou des enfants (ele-1).",
                             "All FHIR elements must have a @value or children (ele-1).", expression, "ele-1")
            elif value is not None:
                problem = primitive_problem(type_code, value)
                if problem:
                    shown = _shorten(value)
                    findings.add("error", "value", f"Valeur {shown} invalide pour le type {type_code} ({problem}).",
                                 f"Invalid {type_code} value {shown} ({problem}).", expression, "fhir-primitive")
            if isinstance(extras, dict):
                self._complex(extras, "Element", expression, walk)
            elif extras is not None:
                findings.add("error", "structure", "Un objet JSON est attendu pour les extensions d'une valeur primitive (_).",
                             "A JSON object is expected for the extensions of a primitive value (_).", expression, "fhir-json")
            return
        if type_code in RESOURCE_TYPES:
            self._resource(value, expression, walk)
            return
        if not isinstance(value, dict):
            findings.add("error", "structure", f"Un objet JSON est attendu pour le type {type_code}.",
                         f"A JSON object is expected for type {type_code}.", expression, "fhir-json")
            return
        self._complex(value, type_code, expression, walk)
        if type_code == "Coding":
            self._coding(value, expression, findings)
        elif type_code == "Reference" and isinstance(value.get("reference"), str):
            walk.references.append((value["reference"], f"{expression}.reference"))
        for invariant in self._datatype_invariants.get(type_code, ()):
            try:
                if not invariant.holds(value, lambda: typed_node(value, type_code), walk.resource):
                    findings.add(invariant.severity, "invariant",
                                 f"Contrainte {invariant.key} non respectée : {invariant.human}",
                                 f"Constraint {invariant.key} failed: {invariant.human}", expression, invariant.key)
            except Exception as exc:  # noqa: BLE001 - a crashing check becomes an issue
                findings.crashed(invariant.key, expression, exc)

    def _coding(self, coding: dict, expression: str, findings: Findings):
        system, code = coding.get("system"), coding.get("code")
        if not isinstance(system, str) or not isinstance(code, str):
            return
        codes = self._known_codes(system)
        if codes is not None and code not in codes:
            findings.add("error", "code-invalid",
                         f"Le code {code!r} n'existe pas dans le système de codes {system}.",
                         f"Unknown code {code!r} in code system {system}.", expression, "fhir-code-system")


def _shorten(value, limit: int = 40) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"
