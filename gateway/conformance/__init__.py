"""The TDDUI conformance engine: FHIR packages in, verdicts out.

``ConformanceEngine.load(settings)`` reads the IG's package closure and its
IG-version descriptor once, tables R4 from its base definitions and compiles
the Flux profiles (their snapshots, FR Core included) into rule trees, every
FHIRPath invariant behind a strict gate; ``judge(bundle)`` normalises a Bundle
and lists every issue the profiles and the business rules find.

Modules: ``fhirpath`` (gate, compiled expressions, FHIR functions),
``r4_model`` and ``primitives`` (R4 from its StructureDefinitions),
``base_check`` (the R4 pass), ``structure`` (snapshot -> rule tree, slices),
``terminology`` (code lists), ``cross_version`` (R5 extensions),
``profile_check`` (a profile tree against an instance), ``references``,
``business_rules`` (descriptor rows); normalisation lives in ``gateway.normalise``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from gateway.conformance.base_check import BaseChecker
from gateway.conformance.business_rules import BundleView, compile_rules
from gateway.conformance.cross_version import R4_EXTENSION, synthesise
from gateway.conformance.errors import EngineStartupError
from gateway.conformance.fhirpath import FhirPath
from gateway.conformance.findings import Findings
from gateway.conformance.profile_check import CheckContext, ProfileChecker, gather
from gateway.conformance.r4_model import R4Model
from gateway.conformance.references import BundleIndex
from gateway.conformance.structure import ElementRule, MatchContext, ProfileSet, TypeRef
from gateway.conformance.terminology import Terminology
from gateway.normalise import Flow, FlowProfile, Normaliser
from gateway.outcome import Issue, Message
from gateway.descriptor import Descriptor, load_descriptor
from gateway.packages import PackageError, PackageSet

__all__ = ["ConformanceEngine", "EngineStartupError", "Verdict"]

log = logging.getLogger(__name__)


@dataclass
class Verdict:
    issues: list[Issue]   # warnings and errors, normalisation warnings included
    bundle: dict          # the normalised bundle, to forward when accepted

    @property
    def accepted(self) -> bool:
        return not any(issue.blocking for issue in self.issues)


def _flow_profile(definition: dict) -> FlowProfile:
    return FlowProfile(definition["url"], definition.get("version"), definition["type"],
                       frozenset(n for n in (definition.get("name"), definition.get("id")) if n))


class ConformanceEngine:
    """Built once per process; ``judge`` is then pure and re-entrant."""

    def __init__(self, packages: PackageSet, descriptor: Descriptor):
        self.packages = packages
        self.descriptor = descriptor
        ig_package_id = descriptor.package
        ig = packages.package(ig_package_id)
        bundles = [r for r in ig.resources if r.get("resourceType") == "StructureDefinition"
                   and r.get("type") == "Bundle" and r.get("derivation") == "constraint"]
        if len(bundles) != 1:
            raise EngineStartupError(f"{ig_package_id} must define exactly one Bundle profile, found {len(bundles)}")
        self.fhirpath = FhirPath()
        self.r4 = R4Model(packages)
        self._terminology = Terminology(packages)
        self.profiles = ProfileSet(packages, self.fhirpath, self._terminology, {
            url: synthesise(url, r5_type, packages.get(R4_EXTENSION)) for url, r5_type in descriptor.cross_version.items()})
        extensions = [r["url"] for r in ig.resources_of("StructureDefinition")
                      if r.get("type") == "Extension" and r.get("derivation") == "constraint"]
        self.profiles.compile_closure([bundles[0]["url"], *extensions])
        self.bundle_profile = bundles[0]["url"]
        self._bundle_tree = self.profiles.tree(self.bundle_profile)
        self.entry_profiles = self._entry_profiles()
        self._checker = ProfileChecker(self.profiles, self._terminology, self.r4.resource_types)
        self._base = BaseChecker(self.r4, self._terminology, self._datatype_invariants())
        self._ins_profile = descriptor.ins_profile
        self._ins_slices = self._identifier_slices(descriptor.ins_profile, descriptor.ins_slices) \
            if descriptor.ins_profile else []
        self.business_rules = compile_rules(descriptor.business_rules, self.fhirpath, str(descriptor.source))
        self._normalise = Normaliser(Flow(
            ig_package_id,
            _flow_profile(self.profiles.definitions[self.bundle_profile]),
            tuple(_flow_profile(self.profiles.definitions[url]) for url in self.entry_profiles),
            self._is_known_profile, self._implied_profile))
        self._log_unchecked_bindings()
        self._log_unresolved()

    @classmethod
    def load(cls, settings) -> "ConformanceEngine":
        """Read the packages of ``settings.package_dir`` and compile everything;
        raises EngineStartupError with a clear message on any problem."""
        try:
            packages = PackageSet.from_directory(settings.package_dir, [settings.implementation_guide])
            engine = cls(packages, load_descriptor(settings.implementation_guide, packages, settings.descriptor_dir))
        except PackageError as exc:
            raise EngineStartupError(str(exc)) from exc
        engine._self_test(packages.package(settings.implementation_guide).examples)
        return engine

    # ------------------------------------------------------------ start-up
    def _entry_profiles(self) -> dict[str, str]:
        """Flux 1 entry profiles: those the Bundle profile's entry slices name."""
        entry = self._bundle_tree.children.get("entry")
        found = {}
        for slice_rule in entry.slices if entry else ():
            resource = slice_rule.children.get("resource")
            for type_ref in resource.types if resource else ():
                for url in type_ref.profiles:
                    if url not in self.profiles.trees:
                        raise EngineStartupError(f"{slice_rule.id}: entry profile {url} is not in the packages")
                    found[url] = self.profiles.definitions[url].get("name", url)
        if not found:
            raise EngineStartupError(f"{self.bundle_profile} names no entry profile (Bundle.entry slices)")
        return found

    def _datatype_invariants(self) -> dict[str, tuple]:
        """The own invariants of each R4 datatype the Flux profiles can reach,
        compiled (ele-1 is the walker's own Python check). One the FHIRPath
        gate refuses is left to HAPI, and logged; datatypes only other
        resources use (ElementDefinition, TriggerDefinition...) are HAPI's too."""
        compiled, refused = {}, []
        used = self.r4.reachable_types({code for tree in self.profiles.trees.values()
                                        for rule in ProfileSet.all_rules(tree) if rule.max != 0
                                        for code in rule.type_codes})
        for type_name, constraints in self.r4.datatype_constraints.items():
            if type_name not in used:
                continue
            rows = []
            for constraint in constraints:
                if constraint.get("key") == "ele-1":
                    continue
                try:
                    rows.append(self.profiles.invariant(constraint, f"R4 {type_name}", (TypeRef(type_name),)))
                except EngineStartupError as exc:
                    refused.append(f"{constraint.get('key')} ({exc})")
            if rows:
                compiled[type_name] = tuple(rows)
        if refused:
            log.info("R4 datatype invariants left to HAPI (outside the FHIRPath gate): %s", "; ".join(refused))
        return compiled

    def _identifier_slices(self, profile: str, names: tuple[str, ...]) -> list[ElementRule]:
        tree = self.profiles.tree(profile)
        identifier = tree.children.get("identifier") if tree else None
        slices = [s for s in (identifier.slices if identifier else ()) if s.slice_name in names]
        if len(slices) != len(names):
            log.warning("INS identifier slices %s not all found in %s: BR-INS-PROFILE is weaker", names, profile)
        return slices

    def _log_unchecked_bindings(self) -> None:
        missing = sorted({rule.value_set for tree in self.profiles.trees.values()
                          for rule in ProfileSet.all_rules(tree)
                          if rule.binding_strength == "required" and rule.value_set
                          and self._terminology.value_set(rule.value_set) is None})
        if missing:
            log.info("required bindings left to HAPI (ValueSet not in the packages): %s", ", ".join(missing))

    def _log_unresolved(self) -> None:
        """A canonical the profiles name and the closure lacks is expected
        only when the descriptor tolerates it; any other is a warning."""
        unexpected = sorted(self.profiles.unresolved - set(self.descriptor.tolerated))
        if unexpected:
            log.warning("profiles referenced but in no package of the closure, not checked: %s", ", ".join(unexpected))
        resolved = tuple(self.packages.packages)
        if self.descriptor.closure and set(resolved) != set(self.descriptor.closure):
            log.warning("the package closure %s differs from the one %s describes (%s): HAPI installs the latter",
                        ", ".join(resolved), self.descriptor.source.name, ", ".join(self.descriptor.closure))

    def _self_test(self, examples: dict[str, dict]) -> None:
        """Judge the IG's example bundles: a crash stops start-up."""
        for name, example in examples.items():
            if example.get("resourceType") != "Bundle":
                continue
            verdict = self.judge(example)
            crashed = [i for i in verdict.issues if i.code == "exception"]
            if crashed:
                raise EngineStartupError(f"checking the IG example {name} crashed: {crashed[0].message.en}")
            if not verdict.accepted:
                log.warning("the IG example %s is refused: %s", name,
                            [i.message.en for i in verdict.issues if i.blocking])

    def describe(self) -> dict:
        """The compiled rules as plain data, so that two IG versions can be diffed."""
        return {
            "package": self.descriptor.package,
            "closure": list(self.packages.packages),
            "substitutions": [{"package": s.name, "declared": list(s.declared), "used": s.used}
                              for s in self.packages.substitutions],
            "success": vars(self.descriptor.success),
            "business_identifiers": {kind: [vars(pattern) for pattern in patterns]
                                     for kind, patterns in self.descriptor.business_identifiers.items()},
            "tolerated": self.descriptor.tolerated,
            "cross_version": self.descriptor.cross_version,
            "bundle_profile": self.bundle_profile,
            "entry_profiles": self.entry_profiles,
            "business_rules": [{k: v for k, v in vars(rule.row).items() if v} for rule in self.business_rules],
            "r4_datatype_invariants": {t: {i.key: i.expression for i in rows}
                                       for t, rows in sorted(self._base.datatype_invariants.items())},
            "profiles": self.profiles.describe(),
        }

    # ------------------------------------------------------------ per request
    def _is_known_profile(self, url: str) -> bool:
        return self.packages.has(url, "StructureDefinition")

    def _has_ins(self, resource: dict) -> bool:
        """The resource is of the INS profile's type and fills one of its INS slices."""
        if not self._ins_slices or resource.get("resourceType") != self.profiles.definitions[self._ins_profile]["type"]:
            return False
        match = MatchContext(lambda _resource: set())
        identifiers = gather(self.profiles.tree(self._ins_profile).children["identifier"], resource, "")
        return any(all(m(inst, match) for m in s.matchers) for inst in identifiers for s in self._ins_slices)

    def _implied_profile(self, resource: dict) -> str | None:
        candidates = [url for url in self.entry_profiles
                      if self.profiles.definitions[url]["type"] == resource.get("resourceType")]
        if self._ins_profile in candidates and len(candidates) > 1:
            if self._has_ins(resource):
                return self._ins_profile
            candidates.remove(self._ins_profile)
        return candidates[0] if len(candidates) == 1 else None

    def judge(self, bundle: dict) -> Verdict:
        """Normalise and check ``bundle``; never raises on bad input."""
        try:
            return self._judge(bundle)
        except Exception:  # noqa: BLE001 - the engine must answer, not crash
            log.exception("the conformance engine crashed")
            return Verdict([Issue("error", "exception", Message(
                "La vérification du Bundle a échoué de manière inattendue.",
                "Checking the Bundle failed unexpectedly."), "Bundle", "engine")], bundle)

    def _judge(self, bundle: dict) -> Verdict:
        normalised = self._normalise(bundle)
        findings = Findings()
        for issue in normalised.issues:
            findings.add(issue.severity, issue.code, issue.message.fr, issue.message.en, issue.expression, issue.rule)
        bundle = normalised.bundle
        index = BundleIndex(bundle)
        conforms_cache: dict[int, set[str]] = {}

        def conforms_to(resource: dict) -> set[str]:
            key = id(resource)
            if key not in conforms_cache:
                meta = resource.get("meta") if isinstance(resource.get("meta"), dict) else {}
                declared = meta.get("profile") if isinstance(meta.get("profile"), list) else []
                conforms_cache[key] = set().union(*(self.profiles.ancestors(str(url)) for url in declared))
            return conforms_cache[key]

        match = MatchContext(conforms_to, index.resolve)
        references: list[tuple[str, str]] = []
        self._guarded("fhir-r4", "Bundle", findings,
                      lambda: self._base.check_resource(bundle, "Bundle", findings, references))
        self._guarded(self.bundle_profile, "Bundle", findings, lambda: self._checker.check(
            self._bundle_tree, bundle, "Bundle", CheckContext(findings, bundle, match, index.resolve)))
        entries = bundle.get("entry") if isinstance(bundle.get("entry"), list) else []
        for position, (entry, profile) in enumerate(zip(entries, normalised.entry_profiles)):
            if profile is None:
                continue
            resource, where = entry["resource"], f"Bundle.entry[{position}].resource"
            self._guarded(profile, where, findings, lambda: self._checker.check(
                self.profiles.tree(profile), resource, where, CheckContext(findings, resource, match, index.resolve)))
        self._business_rules(bundle, normalised.entry_profiles, references, index, findings)
        return Verdict(findings.issues, bundle)

    def judge_resource(self, resource: dict) -> list[Issue]:
        """Check one resource outside any Bundle: R4 itself and each profile
        its ``meta.profile`` claims (compiled on first use). No business rule:
        they are about Flux bundles. Used to compare the packages' own examples with HAPI."""
        findings = Findings()
        self._guarded("fhir-r4", "", findings, lambda: self._base.check_resource(
            resource, str(resource.get("resourceType")), findings, []))
        meta = resource.get("meta") if isinstance(resource.get("meta"), dict) else {}
        declared = [str(url) for url in meta.get("profile") or ()] if isinstance(meta.get("profile"), list) else []
        self.profiles.compile_closure(declared)
        match = MatchContext(lambda item: set().union(*(self.profiles.ancestors(str(u)) for u in (
            (item.get("meta") or {}).get("profile") or ()))) if isinstance(item.get("meta"), dict) else set())
        where = str(resource.get("resourceType"))
        for url in declared:
            tree = self.profiles.tree(url)
            if tree is None:
                findings.add("warning", "not-supported", f"Profil inconnu, non vérifié : {url}.",
                             f"Unknown profile, not checked: {url}.", where, "engine")
                continue
            self._guarded(url, where, findings, lambda tree=tree: self._checker.check(
                tree, resource, where, CheckContext(findings, resource, match, lambda _reference: None)))
        return findings.issues

    def _business_rules(self, bundle, entry_profiles, references, index, findings: Findings) -> None:
        view = BundleView(bundle, entry_profiles, self.entry_profiles, references, index.resolve,
                          self._has_ins, self._ins_profile, self.descriptor.business_identifiers)
        already_refused = findings.errors_at()
        for rule in self.business_rules:
            def run(rule=rule):
                for issue in rule.check(view):
                    if issue.expression not in already_refused:  # the profile already said it
                        findings.add(issue.severity, issue.code, issue.message.fr, issue.message.en,
                                     issue.expression, issue.rule, issue.related)
            self._guarded(rule.row.id, None, findings, run)

    @staticmethod
    def _guarded(rule: str, expression: str | None, findings: Findings, check) -> None:
        try:
            check()
        except Exception as exc:  # noqa: BLE001 - a crashing check becomes an issue
            findings.crashed(rule, expression, exc)
