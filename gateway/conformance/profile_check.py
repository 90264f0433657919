"""Checks an instance against a compiled profile tree: cardinalities, slices,
fixed/pattern values, choice types, required bindings, invariants, reference
targets, and the datatype/extension profiles its elements name."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from gateway.conformance.fhirpath import typed_node
from gateway.conformance.findings import Findings, Instance
from gateway.conformance.structure import R4_BASE, ElementRule, MatchContext, ProfileSet, fixed_matches
from gateway.conformance.terminology import Terminology, report_binding, report_unavailable_value_set


@dataclass
class CheckContext:
    """Per-request state shared by the checks of one resource."""

    findings: Findings
    resource: dict                                   # %resource for invariants
    match: MatchContext
    resolve: Callable[[str], dict | None]            # a reference to its bundle entry's resource
    profiled: set[tuple[int, str]] = field(default_factory=set)  # (profile tree, expression) already checked


# R4 resources that derive from Resource directly, not from DomainResource
_NOT_DOMAIN_RESOURCES = frozenset({"Bundle", "Binary", "Parameters"})


def r4_ancestors(resource_type: str) -> set[str]:
    """The R4 definitions any resource of this type conforms to: its own, DomainResource and
    Resource (a target profile ``…/Resource``, as the 2.4.0 Tasks' ``for``, takes any resource)."""
    ancestors = {resource_type, "Resource"} | (set() if resource_type in _NOT_DOMAIN_RESOURCES else {"DomainResource"})
    return {R4_BASE + name for name in ancestors}


def _choice_type(rule: ElementRule, suffix: str) -> str:
    """The type a choice key names (``valueDateTime`` -> ``dateTime``), among
    the element's types; an unlisted suffix is kept, to be reported as such."""
    return next((code for code in rule.type_codes if code[:1].upper() + code[1:] == suffix), suffix)


def _instances(value, extras, expression: str, type_code: str | None) -> list[Instance]:
    if value is None and extras is None:
        return []
    if isinstance(value, list) or isinstance(extras, list):
        values = value if isinstance(value, list) else []
        extra_list = extras if isinstance(extras, list) else []
        # a ``_name`` item that is not an object (reported by the R4 pass) has
        # no children to check: _view() could not read it
        return [Instance(values[i] if i < len(values) else None,
                         extra_list[i] if i < len(extra_list) and isinstance(extra_list[i], dict) else None,
                         f"{expression}[{i}]", type_code)
                for i in range(max(len(values), len(extra_list)))]
    return [Instance(value, extras if isinstance(extras, dict) else None, expression, type_code)]


def gather(rule: ElementRule, view: dict, parent_expression: str) -> list[Instance]:
    """The occurrences of ``rule``'s element in a JSON object."""
    if rule.is_choice:
        base = rule.fhirpath_name
        found = []
        for key in view:
            if key.startswith(base) and key[len(base):][:1].isupper():
                found += _instances(view[key], view.get("_" + key), f"{parent_expression}.{base}",
                                    _choice_type(rule, key[len(base):]))
            elif key.startswith("_" + base) and key[1 + len(base):][:1].isupper() and key[1:] not in view:
                found += _instances(None, view[key], f"{parent_expression}.{base}",
                                    _choice_type(rule, key[1 + len(base):]))
        return found
    return _instances(view.get(rule.name), view.get("_" + rule.name), f"{parent_expression}.{rule.name}", None)


def _present(rule: ElementRule, view: dict) -> bool:
    """Whether the JSON object holds the element at all (value or ``_name``)."""
    if rule.is_choice:
        base = rule.fhirpath_name
        return any(key.startswith(base) or key.startswith("_" + base) for key in view)
    return rule.name in view or "_" + rule.name in view


def _relative_url(extension: Any) -> bool:
    """A sub-extension named by a slice name of its parent's definition, not by an absolute url."""
    return isinstance(extension, dict) and isinstance(extension.get("url"), str) and ":" not in extension["url"]


def _view(instance: Instance) -> dict | None:
    """The JSON object holding an instance's children (for a primitive: its
    ``_name`` object plus ``value``)."""
    if isinstance(instance.value, dict):
        return instance.value
    if instance.value is None and instance.primitive_extras is None:
        return None
    view = dict(instance.primitive_extras or {})
    if instance.value is not None:
        view["value"] = instance.value
    return view


def _matching_slice(rule: ElementRule, instance: Instance, match: MatchContext) -> ElementRule | None:
    """The first slice whose discriminators all match the instance."""
    for slice_rule in rule.slices:
        for matcher in slice_rule.matchers:
            if not matcher(instance, match):
                break
        else:
            return slice_rule
    return None


def _cardinality_text(rule: ElementRule) -> str:
    return f"{rule.min}..{'*' if rule.max is None else rule.max}"


class ProfileChecker:
    def __init__(self, profiles: ProfileSet, terminology: Terminology, resource_types: frozenset[str]):
        self._profiles = profiles
        self._terminology = terminology
        self._resource_types = resource_types

    def check(self, root: ElementRule, value: Any, expression: str, ctx: CheckContext) -> None:
        """Check ``value`` (a resource or element) against the tree ``root``."""
        self._instance(root, Instance(value, None, expression), ctx)

    # ------------------------------------------------------------ one occurrence
    def _instance(self, rule: ElementRule, instance: Instance, ctx: CheckContext) -> None:
        findings = ctx.findings
        type_code = instance.type or rule.single_type
        if instance.type and rule.types and instance.type not in rule.type_codes:
            findings.add("error", "structure",
                         f"Type {instance.type} non autorisé pour {rule.path} (autorisés : {', '.join(sorted(rule.type_codes))}).",
                         f"Type {instance.type} is not allowed for {rule.path} (allowed: {', '.join(sorted(rule.type_codes))}).",
                         instance.expression, rule.id)
            return
        if rule.nested and type_code in self._resource_types:
            return  # entry and contained resources are checked against their own profile
        if rule.fixed_kind and instance.value is not None and not fixed_matches(rule.fixed_kind, rule.fixed, instance.value):
            findings.add("error", "value",
                         f"La valeur de {rule.path} doit être {'égale à' if rule.fixed_kind == 'fixed' else 'conforme au motif'} {rule.fixed!r}.",
                         f"{rule.path} must {'equal' if rule.fixed_kind == 'fixed' else 'match the pattern'} {rule.fixed!r}.",
                         instance.expression, rule.id)
        if rule.binding_strength == "required" and rule.value_set:
            self._binding(rule, instance, findings)
        if rule.invariants:
            self._invariants(rule, instance, type_code, ctx)
        if rule.target_profiles and isinstance(instance.value, dict) and isinstance(instance.value.get("reference"), str):
            self._reference_target(rule, instance, ctx)
        for tree in rule.type_profiles.get(type_code, ()):
            self._profile(tree, instance, ctx)
        if rule.children:
            view = _view(instance)
            if view is not None:
                for child in rule.children.values():
                    if child.always_check or _present(child, view):
                        self._element(child, view, instance.expression, ctx)
        elif isinstance(instance.primitive_extras, dict):
            self._primitive_extensions(instance.primitive_extras, instance.expression, ctx)

    def _primitive_extensions(self, extras: dict, expression: str, ctx: CheckContext) -> None:
        """Extensions of a primitive value the profile does not slice (``_birthDate``) are still
        checked against their definitions when the packages have them, as on complex elements."""
        extensions = extras.get("extension")
        for index, extension in enumerate(extensions if isinstance(extensions, list) else []):
            tree = self._profiles.extension_tree(str(extension.get("url")).partition("|")[0]) \
                if isinstance(extension, dict) else None
            if tree is not None:
                self._profile(tree, Instance(extension, None, f"{expression}.extension[{index}]", "Extension"), ctx)

    def _profile(self, tree: ElementRule, instance: Instance, ctx: CheckContext) -> None:
        """Check an instance against a datatype or extension profile, once:
        a slice and its unsliced element often name the same extension, and a
        second pass could only find the same issues again."""
        key = (id(tree), instance.expression)
        if key not in ctx.profiled:
            ctx.profiled.add(key)
            self._instance(tree, instance, ctx)

    def _invariants(self, rule: ElementRule, instance: Instance, type_code: str | None, ctx: CheckContext) -> None:
        value = instance.value
        if value is None:
            return
        node_type = type_code if type_code and type_code not in ("BackboneElement", "Element") else rule.path
        node = (lambda: value) if isinstance(value, dict) and "resourceType" in value else (lambda: typed_node(value, node_type))
        # on a primitive, FHIRPath's `value` is the primitive itself, as the HL7 validator's element
        # model reads it (2.4.0's idBesoin.value: "value.matches('^3[0-9]{9}/…')")
        as_value = {"value": value} if not isinstance(value, (dict, list)) else None
        for invariant in rule.invariants:
            reads_value = as_value is not None and "value" in (invariant.compiled.roots or ())
            element, make_node = (as_value, lambda: typed_node(as_value, node_type)) if reads_value else (value, node)
            try:
                holds = invariant.holds(element, make_node, ctx.resource)
            except Exception as exc:  # noqa: BLE001 - a crashing check becomes an issue
                ctx.findings.crashed(invariant.key, instance.expression, exc)
                continue
            if not holds:
                absent = invariant.absent_roots(value)
                fr_why = f" ({', '.join(absent)} absent)" if absent else ""
                en_why = f" ({', '.join(absent)} missing)" if absent else ""
                ctx.findings.add(invariant.severity, "invariant",
                                 f"Contrainte {invariant.key} non respectée{fr_why} : {invariant.human}",
                                 f"Constraint {invariant.key} failed{en_why}: {invariant.human}",
                                 instance.expression, invariant.key)

    def _binding(self, rule: ElementRule, instance: Instance, findings: Findings) -> None:
        code_list = self._terminology.value_set(rule.value_set)
        if code_list is None:
            report_unavailable_value_set(rule.value_set, instance.value, instance.expression, rule.id, findings)
        else:
            report_binding(code_list, rule.value_set, instance.value, instance.expression, rule.id, findings)

    def _reference_target(self, rule: ElementRule, instance: Instance, ctx: CheckContext) -> None:
        targets = rule.target_profiles
        target = ctx.resolve(instance.value["reference"])
        if target is None:
            return  # an unresolved reference is a business-rule issue
        declared = instance.value.get("type")
        if isinstance(declared, str) and declared != target.get("resourceType"):
            # R4 Reference.type: the type of the target, when the reference is literal
            ctx.findings.add("error", "invalid",
                             f"Reference.type {declared} ne correspond pas à la ressource référencée ({target.get('resourceType')}).",
                             f"Reference.type {declared} does not match the referenced resource ({target.get('resourceType')}).",
                             f"{instance.expression}.type", "Reference.type")
        conforms = ctx.match.conforms_to(target) | r4_ancestors(str(target.get("resourceType")))
        if not targets & conforms:
            names = ", ".join(sorted(t.rpartition("/")[2] for t in targets))
            ctx.findings.add("error", "invalid",
                             f"La ressource référencée ({target.get('resourceType')}) n'est pas conforme aux profils attendus : {names}.",
                             f"The referenced resource ({target.get('resourceType')}) does not conform to the expected profiles: {names}.",
                             instance.expression, rule.id)

    # ------------------------------------------------------------ all occurrences
    def _element(self, rule: ElementRule, view: dict, parent_expression: str, ctx: CheckContext) -> None:
        instances = gather(rule, view, parent_expression)
        self._count(rule, len(instances), parent_expression, ctx.findings)
        if not rule.slices:
            for instance in instances:
                self._instance(rule, instance, ctx)
            return
        in_slice: dict[str, int] = {slice_rule.id: 0 for slice_rule in rule.slices}
        for instance in instances:
            matched = _matching_slice(rule, instance, ctx.match)
            if matched is not None:
                in_slice[matched.id] += 1
                self._instance(matched, instance, ctx)
                continue
            if rule.slicing_rules == "closed":
                ctx.findings.add("error", "structure",
                                 f"Cet élément ne correspond à aucune tranche (slice) de {rule.path}, dont le découpage est fermé.",
                                 f"This element matches no slice of {rule.path}, whose slicing is closed.",
                                 instance.expression, rule.id)
            elif rule.path == "Extension.extension" and _relative_url(instance.value):
                shown = instance.value["url"][:80]
                ctx.findings.add("error", "structure",
                                 f"Sous-extension {shown!r} inconnue : la définition de l'extension ne la déclare pas.",
                                 f"Unknown sub-extension {shown!r}: the extension's definition does not declare it.",
                                 f"{instance.expression}.url", "fhir-extension-sub-url")
            self._instance(rule, instance, ctx)
            self._known_extension(rule, instance, ctx)
        for slice_rule in rule.slices:
            self._count(slice_rule, in_slice[slice_rule.id], parent_expression, ctx.findings, rule.fhirpath_name)

    def _known_extension(self, rule: ElementRule, instance: Instance, ctx: CheckContext) -> None:
        """An extension outside the profile's slices is still checked against
        its definition when the packages have it."""
        if rule.name in ("extension", "modifierExtension") and isinstance(instance.value, dict):
            url = str(instance.value.get("url")).partition("|")[0]
            tree = self._profiles.extension_tree(url)
            if tree is not None:
                self._context(url, rule.path.rpartition(".")[0], instance, ctx)
                self._profile(tree, instance, ctx)

    def _context(self, url: str, owner: str, instance: Instance, ctx: CheckContext) -> None:
        """An extension on a resource itself is allowed there by its definition's
        ``context`` (extensibility.html); deeper places and FHIRPath contexts are left to HAPI."""
        contexts = self._profiles.definitions.get(url, {}).get("context") or []
        if "." in owner or not contexts or any(c.get("type") != "element" for c in contexts):
            return
        if not {c.get("expression") for c in contexts} & {owner, "Resource", "DomainResource", "Element"}:
            ctx.findings.add("error", "structure",
                             f"L'extension {url} n'est pas autorisée sur {owner} (contexte de sa définition).",
                             f"The extension {url} is not allowed on {owner} (its definition's context).",
                             instance.expression, "fhir-extension-context")

    @staticmethod
    def _count(rule: ElementRule, count: int, parent_expression: str, findings: Findings,
               element_name: str | None = None) -> None:
        """Cardinality of ``rule`` (a slice's, with its sliced element's name)."""
        if rule.min <= count and (rule.max is None or count <= rule.max):
            return
        where, rule_id = f"{parent_expression}.{element_name or rule.fhirpath_name}", rule.id
        label = f"{rule.path} ({rule.slice_name})" if rule.slice_name else rule.path
        if count < rule.min:
            findings.add("error", "required",
                         f"{label} : au moins {rule.min} attendu(s), {count} trouvé(s) (cardinalité {_cardinality_text(rule)}).",
                         f"{label}: at least {rule.min} expected, {count} found (cardinality {_cardinality_text(rule)}).",
                         where, rule_id)
        elif rule.max is not None and count > rule.max:
            findings.add("error", "structure",
                         f"{label} : au plus {rule.max} autorisé(s), {count} trouvé(s) (cardinalité {_cardinality_text(rule)}).",
                         f"{label}: at most {rule.max} allowed, {count} found (cardinality {_cardinality_text(rule)}).",
                         where, rule_id)
