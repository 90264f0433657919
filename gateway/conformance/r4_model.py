"""FHIR R4 itself, read from the base StructureDefinitions of the closure
(``hl7.fhir.r4.core``): which elements each type has, their types, whether
they repeat, their required bindings, the lexical rule (regex) of each
primitive type and the invariants each datatype carries.

The walker in ``base_check`` asks this model instead of a hand-written one,
so R4 is judged from its own definitions, as HAPI does.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from gateway.conformance.errors import EngineStartupError
from gateway.packages import PackageSet

R4_BASE = "http://hl7.org/fhir/StructureDefinition/"
FHIRPATH_TYPE_PREFIX = "http://hl7.org/fhirpath/System."
REGEX_EXTENSION = "http://hl7.org/fhir/StructureDefinition/regex"
FHIR_TYPE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"
_NESTED_TYPES = frozenset({"BackboneElement", "Element"})


@dataclass(frozen=True)
class ElementSpec:
    """One element of an R4 type, as the walker needs it."""

    path: str                       # the R4 element path (``Observation.value[x]``): rule id of its binding
    name: str                       # FHIRPath name (``value`` for ``valueQuantity``)
    type_code: str                  # R4 type, or the element's own path for a backbone element
    choice_type: str | None         # the type a choice key names, else None
    repeats: bool                   # max is not 1: a JSON array
    required_value_set: str | None  # canonical of a required binding
    required: bool = False          # min >= 1 in the R4 definition


@dataclass(frozen=True)
class PrimitiveSpec:
    """The lexical rule of a primitive type: its regex, compiled."""

    code: str
    regex: re.Pattern | None


def choice_key(base: str, type_code: str) -> str:
    """``value`` + ``dateTime`` -> ``valueDateTime`` (the JSON name of a choice)."""
    return base + type_code[:1].upper() + type_code[1:]


class R4Model:
    """Every base (specialisation) StructureDefinition of R4, compiled into lookup tables."""

    def __init__(self, packages: PackageSet):
        self.elements: dict[str, ElementSpec] = {}
        self.primitives: dict[str, PrimitiveSpec] = {}
        self.kinds: dict[str, str] = {}                 # type -> primitive-type / complex-type / resource
        self.datatype_constraints: dict[str, tuple[dict, ...]] = {}
        self.choice_paths: dict[str, str] = {}          # "Observation.value" -> "Observation.value[x]"
        self.required_children: dict[str, tuple[ElementSpec, ...]] = {}  # datatype -> its min >= 1 elements
        # parsed once and not kept: the tables below are all the engine needs of them
        definitions = [packages.get(entry.url, keep=False) for entry in packages.entries("StructureDefinition")
                       if entry.url == R4_BASE + str(entry.type) and entry.kind != "logical"]
        base = [d for d in definitions if d and d.get("derivation") in ("specialization", None)
                and d.get("url") == R4_BASE + str(d.get("type")) and d.get("kind") != "logical"]
        if not any(d["type"] == "Resource" for d in base):
            raise EngineStartupError("the package closure holds no R4 base StructureDefinitions "
                                     "(hl7.fhir.r4.core#4.0.1 is needed)")
        for definition in base:
            self._add(definition)
        self.required_children = _required_children(self.elements, self.kinds)
        self.resource_types = frozenset(t for t, kind in self.kinds.items() if kind == "resource")
        self.search_parameters = _search_parameters(packages, self.resource_types)

    def _add(self, definition: dict) -> None:
        type_name, kind = definition["type"], definition["kind"]
        self.kinds[type_name] = kind
        elements = (definition.get("snapshot") or {}).get("element") or []
        if not elements:
            raise EngineStartupError(f"{definition['url']} has no snapshot")
        if kind == "complex-type":
            self.datatype_constraints[type_name] = tuple(elements[0].get("constraint") or ())
        for element in elements[1:]:
            path = element["path"]
            if kind == "primitive-type" and path == f"{type_name}.value":
                self.primitives[type_name] = PrimitiveSpec(type_name, _regex(element))
                continue
            parent, _, name = path.rpartition(".")
            binding = element.get("binding") or {}
            required = (binding.get("valueSet") or "").partition("|")[0] or None \
                if binding.get("strength") == "required" else None
            repeats = element.get("max") != "1"
            reference = element.get("contentReference")
            if reference:
                self.elements[path] = ElementSpec(path, name, reference.partition("#")[2], None, repeats, required)
                continue
            codes = [_type_code(t) for t in element.get("type") or ()]
            if name.endswith("[x]"):
                self.choice_paths[f"{parent}.{name[:-3]}"] = path
                for code in codes:
                    self.elements[f"{parent}.{choice_key(name[:-3], code)}"] = ElementSpec(
                        path, name[:-3], code, code, repeats, required)
            elif codes:
                code = path if codes[0] in _NESTED_TYPES and len(codes) == 1 else codes[0]
                if kind == "resource" and path == f"{type_name}.id":
                    # R4 types Resource.id as System.String (fhir-type ``string``), yet
                    # resource.html says a logical id is an ``id``; R5 corrected the type.
                    code = "id"
                self.elements[path] = ElementSpec(path, name, code, None, repeats, required,
                                                  element.get("min", 0) >= 1)

    def element(self, type_path: str, key: str) -> ElementSpec | None:
        """The element ``key`` (a JSON name) of ``type_path`` (a type or a backbone path)."""
        return self.elements.get(f"{type_path}.{key}")

    def reachable_types(self, roots: set[str]) -> set[str]:
        """``roots`` and every type (or backbone path) their elements can hold,
        transitively; not through ``Extension.value[x]``, which can hold any
        type: the roots name the value types of the extensions in use."""
        children: dict[str, set[str]] = {}
        for path, spec in self.elements.items():
            if not path.startswith("Extension.value"):
                children.setdefault(path.rpartition(".")[0], set()).add(spec.type_code)
        found, pending = set(), list(roots)
        while pending:
            type_path = pending.pop()
            if type_path not in found:
                found.add(type_path)
                pending.extend(children.get(type_path, ()))
        return found

    def is_primitive(self, type_code: str) -> bool:
        return self.kinds.get(type_code) == "primitive-type"


def _required_children(elements: dict[str, ElementSpec], kinds: dict[str, str]) -> dict[str, tuple[ElementSpec, ...]]:
    """The elements a datatype (or one of its backbones) must have: a profile
    restates them only for the datatypes it profiles (``Narrative.status``)."""
    found: dict[str, list[ElementSpec]] = {}
    for path, spec in elements.items():
        owner = path.partition(".")[0]
        if spec.required and kinds.get(owner) == "complex-type":
            found.setdefault(path.rpartition(".")[0], []).append(spec)
    return {type_path: tuple(specs) for type_path, specs in found.items()}


def _type_code(type_ref: dict) -> str:
    """Element.id, Extension.url and the like are FHIRPath System types; the
    fhir-type extension names the FHIR type behind them (``string``, ``uri``)."""
    code = type_ref.get("code", "")
    if not code.startswith(FHIRPATH_TYPE_PREFIX):
        return code
    for extension in type_ref.get("extension") or ():
        if extension.get("url") == FHIR_TYPE_EXTENSION and extension.get("valueUrl"):
            return extension["valueUrl"]
    return "string"


def _regex(value_element: dict) -> re.Pattern | None:
    for type_ref in value_element.get("type") or ():
        for extension in type_ref.get("extension") or ():
            if extension.get("url") == REGEX_EXTENSION and isinstance(extension.get("valueString"), str):
                return re.compile(extension["valueString"])
    return None


def _search_parameters(packages: PackageSet, resource_types: frozenset[str]) -> dict[str, frozenset[str]]:
    """The search parameter codes each resource type has in the closure (R4's, and its IGs'), as a
    server loaded with these packages knows them; those on Resource and DomainResource apply to all."""
    by_base: dict[str, set[str]] = {}
    for entry in packages.entries("SearchParameter"):
        parameter = packages.get(entry.url, keep=False) or {}
        if isinstance(parameter.get("code"), str):
            for base in parameter.get("base") or ():
                by_base.setdefault(base, set()).add(parameter["code"])
    common = by_base.get("Resource", set()) | by_base.get("DomainResource", set())
    return {resource_type: frozenset(by_base.get(resource_type, set()) | common) for resource_type in resource_types}
