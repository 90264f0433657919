"""Flux 1 rules the profiles cannot express. Each rule is a row of
``BUSINESS_RULES``: an id (reported in OperationOutcome.issue.details), its
source in the guide, and the check. Documented in docs/business-rules.md."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Iterator

from gateway.outcome import Issue, Message


@dataclass
class BundleView:
    """What the rules look at: the normalised bundle and what the engine
    already knows about it."""

    bundle: dict
    entry_profiles: list[str | None]           # profile each entry is checked against
    flow_profiles: dict[str, str]              # Flux 1 entry profile canonical -> its name
    references: list[tuple[str, str]]          # (reference, expression) found in the entries
    resolve: Callable[[str], dict | None]
    has_ins: Callable[[dict], bool]
    ins_profile: str

    @property
    def entries(self) -> list:
        entries = self.bundle.get("entry")
        return entries if isinstance(entries, list) else []


def _issue(code: str, fr: str, en: str, expression: str, rule: str) -> Issue:
    return Issue("error", code, Message(fr, en), expression, rule)


def not_empty(view: BundleView) -> Iterator[Issue]:
    if not view.entries:
        yield _issue("business-rule", "Le Bundle ne contient aucune entrée : rien à transmettre.",
                     "The Bundle has no entry: nothing to transmit.", "Bundle", "BR-EMPTY")


def flux1_profiles(view: BundleView) -> Iterator[Issue]:
    names = ", ".join(sorted(view.flow_profiles.values()))
    for index, entry in enumerate(view.entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and view.entry_profiles[index] not in view.flow_profiles:
            yield _issue("business-rule",
                         f"Ressource {resource.get('resourceType')} non prévue par le flux 1 (profils utilisables : {names}).",
                         f"Resource {resource.get('resourceType')} is not part of Flux 1 (usable profiles: {names}).",
                         f"Bundle.entry[{index}].resource", "BR-FLUX1-PROFILES")


def create_only(view: BundleView) -> Iterator[Issue]:
    for index, entry in enumerate(view.entries):
        request = entry.get("request") if isinstance(entry, dict) else None
        if isinstance(request, dict) and "method" in request and request["method"] != "POST":
            yield _issue("business-rule",
                         f"Seule la création (POST) est possible dans le flux 1, pas {request['method']!r}.",
                         f"Only creation (POST) is possible in Flux 1, not {request['method']!r}.",
                         f"Bundle.entry[{index}].request.method", "BR-CREATE-ONLY")


def references_resolve(view: BundleView) -> Iterator[Issue]:
    for reference, expression in view.references:
        if not reference.startswith("#") and view.resolve(reference) is None:
            yield _issue("not-found",
                         f"La référence {reference!r} ne correspond à aucune entrée du Bundle (fullUrl ou Type/id).",
                         f"Reference {reference!r} matches no entry of the Bundle (fullUrl or Type/id).",
                         expression, "BR-REFERENCE-IN-BUNDLE")


def _full_url(entry) -> str | None:
    """An entry's fullUrl when it is a string: any other JSON type is reported
    by the R4 pass (and an object or list cannot be counted)."""
    full_url = entry.get("fullUrl") if isinstance(entry, dict) else None
    return full_url if isinstance(full_url, str) else None


def unique_full_urls(view: BundleView) -> Iterator[Issue]:
    full_urls = [_full_url(entry) for entry in view.entries]
    repeated = {url for url, count in Counter(u for u in full_urls if u).items() if count > 1}
    seen = set()
    for index, url in enumerate(full_urls):
        if url in repeated:
            if url in seen:
                yield _issue("business-rule",
                             f"Le fullUrl {url!r} est déjà utilisé par une autre entrée.",
                             f"fullUrl {url!r} is already used by another entry.",
                             f"Bundle.entry[{index}].fullUrl", "BR-UNIQUE-FULLURL")
            seen.add(url)


def ins_patient_profile(view: BundleView) -> Iterator[Issue]:
    for index, entry in enumerate(view.entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        profile = view.entry_profiles[index]
        if isinstance(resource, dict) and profile in view.flow_profiles and profile != view.ins_profile \
                and resource.get("resourceType") == "Patient" and view.has_ins(resource):
            yield _issue("business-rule",
                         f"Un usager dont l'INS est transmis doit l'être avec le profil {view.flow_profiles.get(view.ins_profile, view.ins_profile)}.",
                         f"A patient sent with an INS must use profile {view.flow_profiles.get(view.ins_profile, view.ins_profile)}.",
                         f"Bundle.entry[{index}].resource.meta.profile", "BR-INS-PROFILE")


@dataclass(frozen=True)
class BusinessRule:
    id: str
    summary: str
    source: str
    check: Callable[[BundleView], Iterator[Issue]]


BUSINESS_RULES: tuple[BusinessRule, ...] = (
    BusinessRule("BR-EMPTY", "an empty Bundle is refused",
                 "Flux 1: « Les différentes ressources sont véhiculées … via l'élément Bundle.entry » (gateway policy for the open case)",
                 not_empty),
    BusinessRule("BR-FLUX1-PROFILES", "only the four Flux 1 profiles may appear as entries",
                 "Flux 1 (description_flux_1_transmission_donnees_dui.html): ressources utilisables; TDDUIBundle slicing is open",
                 flux1_profiles),
    BusinessRule("BR-CREATE-ONLY", "request.method is POST",
                 "Flux 1: « interaction FHIR create »; 2.0.0: « seule la création est possible »",
                 create_only),
    BusinessRule("BR-REFERENCE-IN-BUNDLE", "every reference resolves to an entry of the Bundle (fullUrl or Type/id, urn:uuid: included)",
                 "TDDUIEncounterSejour subject/serviceProvider; 2.0.0 « Gestion des identifiants dans le Bundle »",
                 references_resolve),
    BusinessRule("BR-UNIQUE-FULLURL", "no two entries share a fullUrl",
                 "FHIR R4 bdl-7; 2.0.0 « Gestion des identifiants dans le Bundle »",
                 unique_full_urls),
    BusinessRule("BR-INS-PROFILE", "a patient whose INS is present is sent with TDDUIPatientINS",
                 "TDDUIBundle slices DUIPatient/DUIPatientINS; SFE Classe Usager: « Si le matricule INS de l'usager existe, il doit être véhiculé en priorité »",
                 ins_patient_profile),
)

# The INS of a patient, as the guide defines it: an identifier in one of these
# slices of TDDUIPatientINS (their discriminators come from the snapshot).
INS_PROFILE = "https://interop.esante.gouv.fr/ig/fhir/tddui/StructureDefinition/tddui-patient-ins"
INS_IDENTIFIER_SLICES = ("INS-NIR", "INS-NIA", "INS-NIR-TEST", "INS-NIR-DEMO")
