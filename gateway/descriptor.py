"""The IG-version descriptor: what one TDDUI version needs that its packages leave unsaid.

Each supported IG version has one TOML file in ``gateway/descriptors/``, named
``<package name>-<version>.toml`` and selected by ``TDDUI_IG``: its package
closure, the business identifiers per resource type (receipt), the legal
entity's identifiers (scope), the INS slices, the canonicals known to be
missing (tolerated, shared with HAPI's configuration), the R5 cross-version
extensions to synthesise, and the business rules the profiles cannot express.
It names things by profile and slice; what an identifier of a slice looks
like (its system, its type coding) is then read from that slice in the
package snapshot, so no OID is copied into the code.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from gateway.packages import PackageError, PackageSet, version_key

DESCRIPTOR_DIR = Path(__file__).resolve().parent / "descriptors"


def _documents(directory: Path) -> list[dict]:
    """Every descriptor of ``directory``, oldest release first (a release after its ballot)."""
    documents = [tomllib.loads(path.read_text(encoding="utf-8")) for path in Path(directory).glob("*.toml")]
    return sorted(documents, key=lambda document: version_key(document["package"].partition("#")[2]))


def described_releases(directory: Path = DESCRIPTOR_DIR) -> list[str]:
    """Every ``name#version`` a descriptor exists for, oldest first."""
    return [document["package"] for document in _documents(directory)]


def newest_release(directory: Path = DESCRIPTOR_DIR) -> str | None:
    """The default release: the newest one ``directory`` has a descriptor for that does not say
    it is ``incomplete`` (selectable by TDDUI_IG, never the default; None: no such descriptor)."""
    complete = [document["package"] for document in _documents(directory) if not document.get("incomplete")]
    return complete[-1] if complete else None


@dataclass(frozen=True)
class IdentifierPattern:
    """What an identifier must carry to fill one identifier slice of a profile."""

    name: str
    system: str | None
    type_codings: tuple[tuple[str | None, str | None], ...]

    def matches(self, identifier) -> bool:
        if not isinstance(identifier, dict) or not isinstance(identifier.get("value"), str):
            return False
        if self.system and identifier.get("system") != self.system:
            return False
        # also asked of bundles not yet judged (BR-UNIQUE-BUSINESS-ID): any JSON shape may come
        coding = identifier["type"].get("coding") if isinstance(identifier.get("type"), dict) else None
        codings = [(c.get("system"), c.get("code")) for c in coding if isinstance(c, dict)] \
            if isinstance(coding, list) else []
        return all(any((system is None or system == s) and (code is None or code == c) for s, c in codings)
                   for system, code in self.type_codings)


@dataclass(frozen=True)
class LegalEntityPatterns:
    """How a bundle names its legal entity: the idNatSt, and FINESS = idNatSt less its prefix."""

    resource_type: str
    id_nat_st: IdentifierPattern
    finess: IdentifierPattern
    finess_prefix: str

    def id_nat_st_of_finess(self, finess: str) -> str:
        return self.finess_prefix + finess


@dataclass(frozen=True)
class BusinessRuleRow:
    """One business rule: FHIRPath (``expression``) or a named Python check (``check``)."""

    id: str
    summary: str
    source: str
    check: str | None = None
    expression: str | None = None
    context: str | None = None      # element names from the Bundle (``entry``); None: the Bundle
    location: str | None = None     # element of the context node the issue names
    code: str = "business-rule"
    fr: str = ""
    en: str = ""


@dataclass(frozen=True)
class SuccessAnswer:
    """How the release answers an accepted transaction: the HTTP status, and each entry's status."""

    status_when_created: int
    status_otherwise: int
    entry_created: str
    entry_otherwise: str

    def status(self, created: bool) -> int:
        return self.status_when_created if created else self.status_otherwise

    def entry_status(self, created: bool) -> str:
        return self.entry_created if created else self.entry_otherwise


@dataclass(frozen=True)
class Descriptor:
    package: str
    success: SuccessAnswer
    business_identifiers: dict[str, tuple[IdentifierPattern, ...]]
    legal_entity: LegalEntityPatterns
    source: Path
    closure: tuple[str, ...] = ()
    tolerated: dict[str, str] = field(default_factory=dict)        # missing canonical -> why
    cross_version: dict[str, str] = field(default_factory=dict)    # R5 extension canonical -> R5 type
    ins_profile: str | None = None                                 # canonical
    ins_slices: tuple[str, ...] = ()
    business_rules: tuple[BusinessRuleRow, ...] = ()


def descriptor_path(package_id: str, directory: Path = DESCRIPTOR_DIR) -> Path:
    name, _, version = package_id.partition("#")
    return Path(directory) / f"{name}-{version}.toml"


def load_descriptor(package_id: str, packages: PackageSet, directory: Path = DESCRIPTOR_DIR) -> Descriptor:
    """Read the descriptor of ``name#version`` (from ``directory``) and resolve its slices in the packages."""
    path = descriptor_path(package_id, directory)
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in Path(directory).glob("*.toml"))) or "none"
        raise PackageError(f"no descriptor for {package_id}: expected {path} (known: {known})")
    document = tomllib.loads(path.read_text(encoding="utf-8"))
    if document.get("package") != package_id:
        raise PackageError(f"{path} describes {document.get('package')!r}, not {package_id}")
    ig = packages.package(package_id)

    def pattern(ref: dict) -> IdentifierPattern:
        return identifier_pattern(ig.resources, ref["profile"], ref.get("slice"), path)

    entity = document["legal_entity"]
    ins = document.get("ins") or {}
    try:
        rules = tuple(BusinessRuleRow(**row) for row in document.get("business_rules") or ())
    except TypeError as exc:
        raise PackageError(f"{path}: a [[business_rules]] row is malformed: {exc}") from exc
    for row in rules:
        if (row.check is None) == (row.expression is None):
            raise PackageError(f"{path}: business rule {row.id} needs exactly one of 'check' and 'expression'")
    try:
        success = SuccessAnswer(**document["success"])
    except (KeyError, TypeError) as exc:
        raise PackageError(f"{path}: [success] must give status_when_created, status_otherwise, "
                           f"entry_created and entry_otherwise: {exc}") from exc
    return Descriptor(
        package=package_id,
        success=success,
        business_identifiers={kind: tuple(pattern(ref) for ref in section["slices"])
                              for kind, section in document.get("receipt", {}).items()},
        legal_entity=LegalEntityPatterns(entity["resource_type"], pattern(entity["id_nat_st"]),
                                         pattern(entity["finess"]), entity["finess_prefix"]),
        source=path,
        closure=tuple((document.get("closure") or {}).get("packages") or ()),
        tolerated={row["url"]: row.get("why", "") for row in document.get("tolerated") or ()},
        cross_version=dict(document.get("cross_version") or {}),
        ins_profile=profile_url(ig.resources, ins["profile"], path) if ins.get("profile") else None,
        ins_slices=tuple(ins.get("slices") or ()),
        business_rules=rules,
    )


def profile_url(resources: list[dict], profile_id: str, source: Path) -> str:
    """The canonical of the IG's StructureDefinition ``profile_id``."""
    return _profile(resources, profile_id, source)["url"]


def _profile(resources: list[dict], profile_id: str, source: Path) -> dict:
    profile = next((r for r in resources if r.get("resourceType") == "StructureDefinition"
                    and r.get("id") == profile_id), None)
    if profile is None:
        raise PackageError(f"{source}: profile {profile_id} is not in the package")
    return profile


def identifier_pattern(resources: list[dict], profile_id: str, slice_name: str | None, source: Path) -> IdentifierPattern:
    """The fixed or pattern system and type codings of ``<Type>.identifier:<slice>`` in a snapshot;
    without a slice, of the unsliced ``<Type>.identifier``, which must then fix its system (2.4.0's
    CarePlan, Tasks, Goals: one identifier whose system the profile fixes)."""
    profile = _profile(resources, profile_id, source)
    prefix = f"{profile['type']}.identifier" + (f":{slice_name}" if slice_name else "")
    elements = {e["id"]: e for e in profile.get("snapshot", {}).get("element", [])
                if e.get("id", "") == prefix or e.get("id", "").startswith(prefix + ".")}
    if prefix not in elements:
        raise PackageError(f"{source}: {profile_id} has no identifier slice {slice_name}")
    system = fixed_or_pattern(elements.get(f"{prefix}.system"), "Uri")
    if not slice_name and not system:
        raise PackageError(f"{source}: {profile_id}.identifier fixes no system: name one of its slices")
    concept = fixed_or_pattern(elements.get(f"{prefix}.type"), "CodeableConcept") or {}
    codings = tuple((c.get("system"), c.get("code")) for c in concept.get("coding", []))
    if not codings:
        coding_system = fixed_or_pattern(elements.get(f"{prefix}.type.coding.system"), "Uri")
        codings = ((coding_system, None),) if coding_system else ()
    return IdentifierPattern(slice_name or "identifier", system, codings)


def fixed_or_pattern(element: dict | None, type_suffix: str):
    if not element:
        return None
    return element.get(f"fixed{type_suffix}", element.get(f"pattern{type_suffix}"))
