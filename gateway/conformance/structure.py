"""StructureDefinition snapshots compiled into trees of small rule objects.

Each ``ElementRule`` answers the questions its ElementDefinition asks (how
many, which type, which fixed/pattern value, which binding, which invariants,
how sliced); ``ProfileSet`` builds one tree per profile, once, and links slices
to the matchers their discriminators imply.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from gateway.conformance.errors import EngineStartupError
from gateway.conformance.fhirpath import CompiledExpression, FhirPath, is_true, typed_node
from gateway.conformance.python_invariants import ELE_1, python_twin
from gateway.conformance.r4_model import FHIRPATH_TYPE_PREFIX, R4_BASE
from gateway.conformance.terminology import Terminology, codes_in
from gateway.packages import PackageSet

log = logging.getLogger(__name__)


def _mentions(element: Any, names: tuple[str, ...]) -> bool:
    """Whether a JSON element holds any of ``names`` (choice suffixes and
    ``_primitive`` extension keys included)."""
    if not isinstance(element, dict):
        return True  # a primitive: let FHIRPath decide
    for key in element:
        if (key[1:] if key.startswith("_") else key).startswith(names):
            return True
    return False


@dataclass(frozen=True)
class TypeRef:
    code: str
    profiles: tuple[str, ...] = ()
    target_profiles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Invariant:
    """One ``constraint`` of an ElementDefinition, ready to evaluate."""

    key: str
    severity: str
    human: str
    expression: str
    compiled: CompiledExpression | None = None
    python: Callable[[Any], bool | None] | None = None   # twin; None from it defers to ``compiled``
    result_when_roots_absent: bool | None = None

    def holds(self, element, node_factory, resource: dict) -> bool:
        if self.python is not None:
            decided = self.python(element)
            if decided is not None:
                return decided
        roots = self.compiled.roots
        if roots is not None and not _mentions(element, roots):
            return self.result_when_roots_absent
        return is_true(self.compiled(node_factory(), resource))

    def absent_roots(self, element) -> tuple[str, ...]:
        """The elements the expression reads when none of them is present: a
        failure then means they are missing (bdl-8 without fullUrl), which the
        message says, rather than what the constraint's text describes."""
        roots = self.compiled.roots if self.compiled else None
        if not roots or not isinstance(element, dict) or _mentions(element, roots):
            return ()
        return roots


@dataclass(frozen=True)
class Discriminator:
    kind: str  # value, pattern, type, profile, exists
    path: str


@dataclass
class ElementRule:
    """The compiled form of one snapshot ElementDefinition (and its subtree)."""

    id: str
    path: str
    name: str                      # JSON name, ``value[x]`` for choices
    min: int = 0
    max: int | None = None         # None = unbounded
    types: tuple[TypeRef, ...] = ()
    fixed: Any = None
    fixed_kind: str | None = None  # "fixed" or "pattern"
    binding_strength: str | None = None
    value_set: str | None = None
    invariants: tuple[Invariant, ...] = ()
    discriminators: tuple[Discriminator, ...] = ()
    slicing_rules: str | None = None
    slices: list["ElementRule"] = field(default_factory=list)
    children: dict[str, "ElementRule"] = field(default_factory=dict)
    slice_name: str | None = None
    # filled when linking: one predicate per discriminator, for slice rules
    matchers: tuple[Callable[[Any, "MatchContext"], bool], ...] = ()  # (Instance, MatchContext)

    # set by ProfileSet once the tree is complete (hot path: no recomputation per request)
    is_choice: bool = False
    fhirpath_name: str = ""
    always_check: bool = False      # min > 0 here or in a slice: check even when absent
    type_codes: frozenset[str] = frozenset()
    single_type: str | None = None  # the type code when there is exactly one type
    nested: bool = False            # below the root of its profile
    type_profiles: dict[str, tuple["ElementRule", ...]] = field(default_factory=dict)  # type code -> its profiles' trees
    target_profiles: frozenset[str] = frozenset()  # Reference targets, without versions

    def child_at(self, path: str) -> "ElementRule | None":
        rule = self
        for segment in path.split("."):
            rule = rule.children.get(segment) if rule else None
        return rule


class MatchContext:
    """What slice matching needs from the request: the profiles a resource
    claims (after normalisation), with their ancestors; and, inside a bundle,
    the resource a reference names (``resolve()`` discriminators)."""

    def __init__(self, conforms_to: Callable[[dict], set[str]],
                 resolve: Callable[[str], dict | None] = lambda _reference: None):
        self.conforms_to = conforms_to
        self.resolve = resolve


def _type_ref(raw: dict) -> TypeRef:
    code = raw.get("code", "")
    if code.startswith(FHIRPATH_TYPE_PREFIX):
        code = "string"  # id, Extension.url and primitive .value are System types
    return TypeRef(code, tuple(raw.get("profile") or ()), tuple(raw.get("targetProfile") or ()))


def _fixed(element: dict) -> tuple[str | None, Any]:
    for key, value in element.items():
        if key.startswith("fixed"):
            return "fixed", value
        if key.startswith("pattern"):
            return "pattern", value
    return None, None


def pattern_matches(expected: Any, actual: Any) -> bool:
    """FHIR pattern semantics: every part of ``expected`` is in ``actual``."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and pattern_matches(value, actual[key]) for key, value in expected.items())
    if isinstance(expected, list):
        items = actual if isinstance(actual, list) else [actual]
        return all(any(pattern_matches(part, item) for item in items) for part in expected)
    return expected == actual


def fixed_matches(kind: str, expected: Any, actual: Any) -> bool:
    return expected == actual if kind == "fixed" else pattern_matches(expected, actual)


def _pattern_from_children(rule: ElementRule) -> dict | None:
    """A pattern assembled from the fixed/pattern values of a rule's
    descendants (FR Core's finess slice fixes ``type.coding.system`` only)."""
    pattern = {}
    for name, child in rule.children.items():
        value = child.fixed if child.fixed_kind else _pattern_from_children(child)
        if value is not None:
            pattern[name] = value if child.max == 1 else [value]
    return pattern or None


# a discriminator path segment: ``extension('<url>')`` (whose url has dots) or an element name
_PATH_SEGMENT = re.compile(r"extension\('([^']*)'\)|[^.]+")


def path_segments(path: str) -> list[tuple[str, str | None]]:
    """``a.extension('u').value`` -> [("a", None), ("extension", "u"), ("value", None)]."""
    return [("extension", m.group(1)) if m.group(1) is not None else (m.group(0), None)
            for m in _PATH_SEGMENT.finditer(path)]


def _join(segments: list[tuple[str, str | None]]) -> str:
    return ".".join(f"extension('{url}')" if url is not None else name for name, url in segments)


def values_at(value: Any, path: str) -> list:
    """Instance values at a discriminator path (``$this``, ``a.b``, ``extension('url').value``);
    a name a choice element answers to (``value``) finds its typed key (``valueCodeableConcept``)."""
    current = [value]
    if path == "$this":
        return current
    for segment, extension_url in path_segments(path):
        found = []
        for item in current:
            if not isinstance(item, dict):
                continue
            keys = [segment] if segment in item else [
                key for key in item if key.startswith(segment) and key[len(segment):][:1].isupper()]
            for key in keys:
                child = item[key]
                found.extend(child if isinstance(child, list) else [child])
        if extension_url is not None:
            found = [item for item in found if isinstance(item, dict) and item.get("url") == extension_url]
        current = found
    return current


class ProfileSet:
    """Every profile the flow can reach, compiled once into rule trees."""

    def __init__(self, packages: PackageSet, fhirpath: FhirPath, terminology: Terminology,
                 synthesised: dict[str, dict] | None = None):
        self._packages = packages
        self._synthesised = synthesised or {}  # definitions no package has (cross-version extensions)
        self._fhirpath = fhirpath
        self._terminology = terminology
        self.trees: dict[str, ElementRule] = {}
        self.definitions: dict[str, dict] = {}
        self.unresolved: set[str] = set()

    # ------------------------------------------------------------ compiling
    def compile_closure(self, roots: list[str]) -> None:
        """Compile ``roots`` and every profile their elements refer to."""
        pending = [url.partition("|")[0] for url in roots]
        new_urls = []
        while pending:
            url = pending.pop()
            if url in self.trees or url in self.unresolved:
                continue
            definition = self._synthesised.get(url) or self._packages.get(url)
            if definition is None or definition.get("resourceType") != "StructureDefinition":
                self.unresolved.add(url)
                continue
            self.definitions[url] = definition
            self.trees[url] = self._compile(definition)
            new_urls.append(url)
            for rule in self.all_rules(self.trees[url]):
                for type_ref in rule.types:
                    pending.extend(p.partition("|")[0] for p in type_ref.profiles)
        new_rules = [rule for url in new_urls for rule in self.all_rules(self.trees[url])]
        for rule in new_rules:
            self._precompute(rule)
        for rule in new_rules:
            if rule.slices:
                self._link_slices(rule)

    def extension_tree(self, url: str) -> ElementRule | None:
        """The tree of an extension definition of the closure, compiled on
        first use: the closure defines hundreds, a bundle uses a few."""
        url = url.partition("|")[0]
        if url not in self.trees and url not in self.unresolved and (
                url in self._synthesised or self._packages.has(url, "StructureDefinition")):
            self.compile_closure([url])
        return self.trees.get(url)

    def _precompute(self, rule: ElementRule) -> None:
        rule.is_choice = rule.name.endswith("[x]")
        rule.fhirpath_name = rule.name[:-3] if rule.is_choice else rule.name
        rule.always_check = rule.min > 0 or any(s.min > 0 for s in rule.slices)
        rule.type_codes = frozenset(type_ref.code for type_ref in rule.types)
        rule.single_type = rule.types[0].code if len(rule.types) == 1 else None
        rule.nested = "." in rule.path
        rule.type_profiles = {}
        for type_ref in rule.types:
            trees = tuple(t for t in (self.tree(p) for p in type_ref.profiles) if t is not None and t is not rule)
            rule.type_profiles[type_ref.code] = rule.type_profiles.get(type_ref.code, ()) + trees
        rule.target_profiles = frozenset(p.partition("|")[0] for t in rule.types for p in t.target_profiles)

    def _compile(self, definition: dict) -> ElementRule:
        snapshot = (definition.get("snapshot") or {}).get("element")
        url = definition["url"]
        if not snapshot:
            raise EngineStartupError(f"{url} has no snapshot: the engine compiles snapshots only")
        by_id: dict[str, ElementRule] = {}
        root = None
        for element in snapshot:
            rule = self._rule(definition, element)
            by_id[rule.id] = rule
            if root is None:
                root = rule
                continue
            parent_id, _, last = rule.id.rpartition(".")
            if ":" in last:
                sliced_id = parent_id + "." + last.split(":")[0] if parent_id else last.split(":")[0]
                base = by_id.get(sliced_id) or by_id.get(rule.id.rsplit(":", 1)[0])
                if base is None:
                    raise EngineStartupError(f"{url}: slice {rule.id} has no sliced element")
                base.slices.append(rule)
            else:
                parent = by_id.get(parent_id)
                if parent is None:
                    raise EngineStartupError(f"{url}: element {rule.id} has no parent in the snapshot")
                parent.children[rule.name] = rule
        for element in snapshot:
            reference = element.get("contentReference")
            if reference:
                target = next((r for r in by_id.values() if r.id == reference.partition("#")[2]), None)
                if target is not None:
                    by_id[element["id"]].children = target.children
                    by_id[element["id"]].types = target.types
        return root

    def _rule(self, definition: dict, element: dict) -> ElementRule:
        element_id = element["id"]
        last = element_id.rpartition(".")[2]
        name, _, slice_name = last.partition(":")
        max_text = element.get("max", "*")
        fixed_kind, fixed = _fixed(element)
        slicing = element.get("slicing") or {}
        binding = element.get("binding") or {}
        types = tuple(_type_ref(raw) for raw in element.get("type") or ())
        where = f"{definition['url']} {element_id}"
        return ElementRule(
            id=element_id, path=element["path"], name=name if "." in element_id else element_id,
            min=int(element.get("min", 0)), max=None if max_text == "*" else int(max_text),
            types=types, fixed=fixed, fixed_kind=fixed_kind,
            binding_strength=binding.get("strength"),
            value_set=(binding.get("valueSet") or "").partition("|")[0] or None,
            invariants=tuple(self.invariant(c, where, types) for c in self._machine_constraints(element, where)),
            discriminators=tuple(Discriminator(d["type"], d["path"]) for d in slicing.get("discriminator") or ()),
            slicing_rules=slicing.get("rules") if slicing else None,
            slice_name=slice_name or None,
        )

    @staticmethod
    def _machine_constraints(element: dict, where: str) -> list[dict]:
        """The element's constraints that a machine can check: ele-1 is the
        walker's own check, and a constraint with no FHIRPath expression (prose
        only, as the French DocumentReference binding notes of 2.4.0) cannot be
        evaluated by anyone, HAPI included; it is logged, not compiled."""
        constraints = []
        for constraint in element.get("constraint") or ():
            if (constraint.get("key"), constraint.get("expression")) == ELE_1:
                continue
            if not constraint.get("expression") and constraint.get("human"):
                log.info("%s: constraint %s is prose only (no FHIRPath expression), not checked",
                         where, constraint.get("key"))
                continue
            constraints.append(constraint)
        return constraints

    def invariant(self, constraint: dict, where: str, types: tuple[TypeRef, ...]) -> Invariant:
        """Compile one ElementDefinition.constraint to FHIRPath, with its Python
        twin (python_invariants.python_twin) when there is one."""
        key, expression = constraint.get("key", "?"), constraint.get("expression")
        severity = "warning" if constraint.get("severity") == "warning" else "error"
        human = constraint.get("human", "")
        if not expression:
            raise EngineStartupError(f"{where}: constraint {key} has no FHIRPath expression")
        compiled = self._fhirpath.compile(expression, f"{where} constraint {key}")
        baseline = None
        if compiled.roots is not None:
            type_name = types[0].code if len(types) == 1 else "Element"
            try:
                baseline = is_true(compiled(typed_node({}, type_name), {}))
            except Exception as exc:  # noqa: BLE001 - smoke run of the compiled form
                raise EngineStartupError(f"{where} constraint {key}: fails on an empty element: {exc}") from exc
        return Invariant(key, severity, human, expression, compiled, python_twin(key, expression), baseline)

    @staticmethod
    def all_rules(rule: ElementRule):
        """A rule and every rule below it (children and slices), each once: a
        contentReference (QuestionnaireResponse.item.item) shares its target's
        children, so the rules form a graph with cycles, not a tree."""
        seen: set[int] = set()
        pending = [rule]
        while pending:
            current = pending.pop()
            if id(current) in seen:
                continue
            seen.add(id(current))
            yield current
            pending.extend(reversed(current.slices))
            pending.extend(reversed(current.children.values()))

    # ------------------------------------------------------------ slices
    def _link_slices(self, sliced: ElementRule) -> None:
        if not sliced.discriminators:
            raise EngineStartupError(f"{sliced.id}: slicing without discriminator is not supported")
        for slice_rule in sliced.slices:
            slice_rule.matchers = tuple(self._matcher(slice_rule, d) for d in sliced.discriminators)

    def _matcher(self, slice_rule: ElementRule, discriminator: Discriminator):
        kind, path = discriminator.kind, discriminator.path
        if kind in ("value", "pattern"):
            target_kind, expected = self._expected_value(slice_rule, path)
            if target_kind == "binding":
                return lambda inst, _ctx: any(
                    expected.verdict(system, code) is True
                    for actual in values_at(inst.value, path) for system, code in codes_in(actual))
            if target_kind is None:
                if slice_rule.min > 0:
                    raise EngineStartupError(
                        f"{slice_rule.id}: discriminator {kind}:{path} has no fixed, pattern or bound value to match")
                log.info("%s: discriminator %s:%s has no value to match; the optional slice is never matched "
                         "and its elements are checked against %s", slice_rule.id, kind, path, slice_rule.path)
                return lambda inst, _ctx: False
            return lambda inst, _ctx: any(
                fixed_matches(target_kind, expected, actual) for actual in values_at(inst.value, path))
        if kind == "type" and path == "resolve()":
            # the type of the resource the reference names (Observation.performer:referentScolaire)
            wanted = {self._resource_type(url) for url in
                      (p.partition("|")[0] for t in slice_rule.types for p in t.target_profiles)}
            return lambda inst, ctx: isinstance(inst.value, dict) and isinstance(inst.value.get("reference"), str) \
                and (ctx.resolve(inst.value["reference"]) or {}).get("resourceType") in wanted
        if kind == "type":
            target = slice_rule if path == "$this" else slice_rule.child_at(path)
            codes = target.type_codes if target else set()
            return lambda inst, _ctx: (inst.type if path == "$this" else None) in codes or any(
                isinstance(item, dict) and item.get("resourceType") in codes for item in values_at(inst.value, path))
        if kind == "profile":
            target = slice_rule if path == "$this" else slice_rule.child_at(path)
            wanted = {p for t in (target.types if target else ()) for p in t.profiles}
            if not wanted:
                raise EngineStartupError(f"{slice_rule.id}: profile discriminator {path} names no profile")
            return lambda inst, ctx: any(
                isinstance(item, dict) and wanted & ctx.conforms_to(item) for item in values_at(inst.value, path))
        if kind == "exists":
            target = slice_rule.child_at(path)
            must_exist = bool(target and target.min > 0)
            return lambda inst, _ctx: bool(values_at(inst.value, path)) == must_exist
        raise EngineStartupError(f"{slice_rule.id}: discriminator type {kind} is not supported")

    def _resource_type(self, profile: str) -> str:
        """The resource type a profile constrains (R4's own: the last part of its canonical)."""
        definition = self.definitions.get(profile) or self._packages.get(profile)
        return definition["type"] if definition else profile.rpartition("/")[2]

    def _expected_value(self, slice_rule: ElementRule, path: str) -> tuple[str | None, Any]:
        """The fixed/pattern value a slice has at ``path``, looking into the
        type profile when the snapshot does not expand it."""
        rule = slice_rule
        segments = [] if path == "$this" else path_segments(path)
        for position, (segment, extension_url) in enumerate(segments):
            if extension_url is not None:  # the extension slice whose definition is that url
                extension = rule.children.get("extension")
                rule = next((s for s in (extension.slices if extension else ())
                             if any(p.partition("|")[0] == extension_url for t in s.types for p in t.profiles)), None)
                if rule is None:
                    return None, None
                continue
            profile = next((p for t in rule.types for p in t.profiles), None)
            if segment == "url" and profile and "Extension" in rule.type_codes:
                return "fixed", profile.partition("|")[0]  # an extension's url is its definition's canonical
            child = rule.children.get(segment) or rule.children.get(segment + "[x]")
            if child is None:
                tree = self.trees.get(profile.partition("|")[0]) if profile else None
                child = tree.children.get(segment) if tree else None
            if segment == "url" and "Extension" in rule.type_codes and rule.slice_name and not (child and child.fixed_kind):
                return "fixed", rule.slice_name  # a sub-extension without a fixed url: its slice name, as the HL7 validator reads it
            if child is None and rule.slices:
                # the value is fixed in a slice of this element (FR Core's vital signs: code.coding:SBPCode.code)
                for inner in sorted(rule.slices, key=lambda r: -r.min):
                    found = self._expected_value(inner, _join(segments[position:]))
                    if found[0] not in (None, "binding"):
                        return found
            if child is None:
                return None, None
            rule = child
        if rule.fixed_kind:
            return rule.fixed_kind, rule.fixed
        composed = _pattern_from_children(rule)
        if composed:
            return "pattern", composed
        if rule.binding_strength == "required" and rule.value_set:
            code_list = self._terminology.value_set(rule.value_set)
            if code_list is not None:  # slicing by binding, as FR Core does for Organization.type
                return "binding", code_list
        return None, None

    # ------------------------------------------------------------ queries
    def describe(self) -> dict[str, list[dict]]:
        """Every compiled tree as plain data, one row per rule (``tddui-gateway rules``)."""
        def row(rule: ElementRule) -> dict:
            found = {"id": rule.id, "card": f"{rule.min}..{'*' if rule.max is None else rule.max}"}
            if rule.types:
                found["types"] = [t.code + (f"({', '.join(t.profiles + t.target_profiles)})"
                                            if t.profiles or t.target_profiles else "") for t in rule.types]
            if rule.fixed_kind:
                found[rule.fixed_kind] = rule.fixed
            if rule.binding_strength:
                found["binding"] = f"{rule.binding_strength} {rule.value_set}"
            if rule.invariants:
                found["invariants"] = {i.key: i.expression for i in rule.invariants}
            if rule.discriminators:
                found["slicing"] = f"{rule.slicing_rules} by " + ", ".join(f"{d.kind}:{d.path}" for d in rule.discriminators)
            return found

        return {url: [row(rule) for rule in self.all_rules(tree)] for url, tree in sorted(self.trees.items())}

    def tree(self, url: str) -> ElementRule | None:
        return self.trees.get(url.partition("|")[0])

    def ancestors(self, url: str) -> set[str]:
        """``url`` and every profile it derives from (baseDefinition chain)."""
        found = set()
        current = url.partition("|")[0]
        while current and current not in found:
            found.add(current)
            definition = self.definitions.get(current) or self._packages.get(current)
            current = (definition or {}).get("baseDefinition")
            if current and current.startswith(R4_BASE):
                found.add(current)
                break
        return found
