"""Code lists that can be enumerated from the loaded packages.

A required binding is checked only against what the packages really contain:
a ValueSet or CodeSystem that is absent, or a filter we cannot expand, makes
the answer "unknown", which the checks turn into a warning (HAPI does the same
for code systems it cannot resolve), never an error.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from gateway.conformance.findings import Findings
from gateway.packages import PackageSet


@dataclass(frozen=True)
class CodeList:
    """Codes of an enumerable ValueSet, by system; ``unknown_systems`` are
    included systems whose codes the packages do not list."""

    codes: dict[str, frozenset[str]]
    unknown_systems: frozenset[str] = field(default_factory=frozenset)
    complete: bool = True

    def verdict(self, system: str | None, code: str) -> bool | None:
        """True/False when the packages decide; None when they cannot."""
        if not isinstance(code, str) or not (system is None or isinstance(system, str)):
            return False  # not a code at all (codes_in never gives one; the R4 pass reports the JSON type)
        if system is None:  # a bare code (code-typed element)
            if any(code in codes for codes in self.codes.values()):
                return True
            return None if self.unknown_systems or not self.complete else False
        if system in self.codes and code in self.codes[system]:
            return True
        if system in self.unknown_systems or not self.complete:
            return None
        return False


def codes_in(value) -> list[tuple[str | None, str]]:
    """(system, code) pairs of a code, Coding or CodeableConcept JSON value;
    a bare code has no system. Codings whose system or code is not a string
    are left out: the R4 pass reports their JSON type."""
    if isinstance(value, str):
        return [(None, value)]
    if not isinstance(value, dict):
        return []
    codings = value.get("coding") if "coding" in value else [value]
    if isinstance(codings, dict):
        codings = [codings]  # an object where R4 wants an array: fhirpathpy reads it as one coding
    elif not isinstance(codings, list):
        return []
    return [(c.get("system"), c["code"]) for c in codings
            if isinstance(c, dict) and isinstance(c.get("code"), str)
            and (c.get("system") is None or isinstance(c.get("system"), str))]


def report_binding(code_list: CodeList, value_set: str, value, expression: str, rule_id: str,
                   findings: Findings) -> None:
    """Check a code, Coding or CodeableConcept against a required binding:
    an error when the packages say no, a warning when they cannot tell."""
    pairs = codes_in(value)
    if not pairs:
        return
    verdicts = [code_list.verdict(system, code) for system, code in pairs]
    if True in verdicts:
        return
    shown = ", ".join(f"{system}|{code}" if system else code for system, code in pairs)
    if all(verdict is False for verdict in verdicts):
        findings.add("error", "code-invalid",
                     f"Le code {shown} n'appartient pas au jeu de valeurs obligatoire {value_set}.",
                     f"Code {shown} is not in the required value set {value_set}.", expression, rule_id)
    else:
        findings.add("warning", "code-invalid",
                     f"Le code {shown} n'a pas pu être vérifié : son système de codes n'est pas dans les packages chargés ({value_set}).",
                     f"Code {shown} could not be checked: its code system is not in the loaded packages ({value_set}).",
                     expression, rule_id)


def report_unavailable_value_set(value_set: str, value, expression: str, rule_id: str, findings: Findings) -> None:
    """A code under a required binding whose ValueSet no package of the closure
    has: neither accepted as checked nor refused, but a warning saying it was
    not checked (HAPI answers an unknown ValueSet the same way)."""
    pairs = codes_in(value)
    if not pairs:
        return
    shown = ", ".join(f"{system}|{code}" if system else code for system, code in pairs)
    findings.add("warning", "code-invalid",
                 f"Le code {shown} n'a pas pu être vérifié : le jeu de valeurs obligatoire {value_set} n'est pas dans les packages chargés.",
                 f"Code {shown} could not be checked: the required value set {value_set} is not in the loaded packages.",
                 expression, rule_id)


def _concepts(concepts: list[dict]):
    for concept in concepts or ():
        yield concept["code"]
        yield from _concepts(concept.get("concept"))


class Terminology:
    """ValueSet expansion and CodeSystem lookup over a PackageSet."""

    def __init__(self, packages: PackageSet):
        self._packages = packages
        self._value_sets: dict[str, CodeList | None] = {}
        self._code_systems: dict[str, frozenset[str] | None] = {}

    def code_system(self, url: str) -> frozenset[str] | None:
        """All codes of a complete CodeSystem in the packages, else None (the codes are kept, not the CodeSystem)."""
        if not self._packages.has(url, "CodeSystem"):
            return None  # not cached: the systems a producer can name are unbounded
        if url not in self._code_systems:
            resource = self._packages.get(url, keep=False)
            complete = resource and resource.get("resourceType") == "CodeSystem" and resource.get("content") == "complete"
            self._code_systems[url] = frozenset(_concepts(resource.get("concept"))) if complete else None
        return self._code_systems[url]

    def value_set(self, url: str) -> CodeList | None:
        """The ValueSet's code list, or None when the ValueSet is not loaded."""
        if url not in self._value_sets:
            self._value_sets[url] = None  # guards against include cycles
            resource = self._packages.get(url, keep=False)  # the code list is kept, not the ValueSet
            if resource and resource.get("resourceType") == "ValueSet":
                self._value_sets[url] = self._expand(resource)
        return self._value_sets[url]

    def _expand(self, value_set: dict) -> CodeList:
        codes: dict[str, set[str]] = {}
        unknown: set[str] = set()
        complete = True
        compose = value_set.get("compose") or {}
        for include in compose.get("include") or ():
            system = include.get("system")
            for nested in include.get("valueSet") or ():
                nested_list = self.value_set(nested)
                if nested_list is None:
                    complete = False
                    continue
                for nested_system, nested_codes in nested_list.codes.items():
                    codes.setdefault(nested_system, set()).update(nested_codes)
                unknown |= nested_list.unknown_systems
                complete &= nested_list.complete
            if not system:
                continue
            if include.get("filter"):
                unknown.add(system)
            elif include.get("concept"):
                codes.setdefault(system, set()).update(c["code"] for c in include["concept"])
            else:
                whole = self.code_system(system)
                if whole is None:
                    unknown.add(system)
                else:
                    codes.setdefault(system, set()).update(whole)
        for exclude in compose.get("exclude") or ():
            system = exclude.get("system")
            if system in codes:
                codes[system] -= {c["code"] for c in exclude.get("concept") or ()}
        for contains in (value_set.get("expansion") or {}).get("contains") or ():
            if contains.get("system") and contains.get("code"):
                codes.setdefault(contains["system"], set()).add(contains["code"])
        return CodeList({system: frozenset(found) for system, found in codes.items()},
                        frozenset(unknown), complete)
