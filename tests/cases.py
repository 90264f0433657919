"""The TDDUI Consommateur test cases of docs tddui-rules.md §5, built in code
from the package's own examples (read from the package directory at test
time; nothing of the packages is copied into the repository).

One table, ``CASES``, used offline against the engine (tests/conformance) and
later against the running gateway and HAPI, which must reach the same verdicts.
Each case builds its request body from ``Examples``; the baselines are:

* V1: the IG example Bundle with request.url written as resource types
  (PatientINS at entry 0, Organization at 1, Encounter at 2);
* V2: the same with the standalone TDDUIPatient example at entry 0 and the
  Encounter's subject pointing to it.

Expressions use FHIRPath names (``value``, not ``valueAddress``), with indexes.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable

import yaml

from gateway.config import Settings
from gateway.packages import PackageSet

TDDUI = "https://interop.esante.gouv.fr/ig/fhir/tddui/StructureDefinition/"
# The release the suite is built around, pinned whatever the product's default (tests/conftest.py
# puts it in TDDUI_IG for the session, its subprocesses included); the tests that concern another
# release name it themselves.
SUITE_RELEASE = "ans.fhir.fr.tddui#2.0.0-ballot"
RELEASE_2_0_0 = "ans.fhir.fr.tddui#2.0.0"
REPO_ROOT = Path(__file__).resolve().parent.parent
HAPI_YAML = REPO_ROOT / "hapi-config" / "application.yaml"
JSON = "application/fhir+json"


@dataclass(frozen=True)
class Examples:
    """The IG's example resources, as published in the package."""

    bundle: dict      # Bundle-ExampleTDDUIBundle (request.url = profile names)
    patient: dict     # Patient-tddui-patient-example (TDDUIPatient, no INS)


def package_dir() -> Path:
    directory = Settings.from_env().package_dir
    return directory if directory.is_absolute() else (REPO_ROOT / directory).resolve()


def hapi_config(release: str | None = None) -> dict:
    """HAPI's settings (hapi-config/application.yaml) as Spring reads them: the first document,
    then, for ``release``, the document of its profile ``tddui-<version>`` (scripts/hapi and
    compose activate it) merged over it, maps key by key, lists replaced."""
    first, *profiles = yaml.safe_load_all(HAPI_YAML.read_text(encoding="utf-8"))
    profile = f"tddui-{release.partition('#')[2]}" if release else None
    for document in profiles:
        if document["spring"]["config"]["activate"]["on-profile"] == profile:
            first = _spring_merge(first, document)
    return first


def _spring_merge(base, override):
    if isinstance(base, dict) and isinstance(override, dict):
        return {**base, **{key: _spring_merge(base.get(key), value) for key, value in override.items()}}
    return override


@lru_cache(maxsize=1)
def load_examples() -> Examples:
    """Read the examples from the configured package directory (FHIR_PACKAGE_DIR)."""
    settings = Settings.from_env()
    examples = PackageSet.from_directory(package_dir(), [settings.implementation_guide]) \
        .package(settings.implementation_guide).examples
    return Examples(examples["Bundle-ExampleTDDUIBundle"], examples["Patient-tddui-patient-example"])


@lru_cache(maxsize=None)
def _release_examples(release: str) -> dict[str, dict]:
    return PackageSet.from_directory(package_dir(), [release]).package(release).examples


IMPOSE_PROFILE = "http://hl7.org/fhir/StructureDefinition/structuredefinition-imposeProfile"


def release_example(release: str) -> dict:
    """Each release's own example bundle, read from its package, request.url written as types.

    (The 2.0.0 package's example is the ballot's, byte for byte: the releases differ in their rules,
    not in their example.)"""
    bundle = copy.deepcopy(_release_examples(release)["Bundle-ExampleTDDUIBundle"])
    for entry in bundle["entry"]:
        entry["request"]["url"] = entry["resource"]["resourceType"]
    return bundle


def ig_example_bundle() -> dict:
    """The IG example Bundle exactly as published (a fresh copy)."""
    return copy.deepcopy(load_examples().bundle)


# ---------------------------------------------------------------- baselines
def v1(ex: Examples) -> dict:
    bundle = copy.deepcopy(ex.bundle)
    for entry in bundle["entry"]:
        entry["request"]["url"] = entry["resource"]["resourceType"]
    return bundle


def v2(ex: Examples) -> dict:
    bundle = v1(ex)
    patient = copy.deepcopy(ex.patient)
    bundle["entry"][0] = {"fullUrl": f"https://test-server.fr/Patient/{patient['id']}", "resource": patient,
                          "request": {"method": "POST", "url": "Patient"}}
    encounter(bundle)["subject"] = {"reference": f"Patient/{patient['id']}"}
    return bundle


def patient(bundle: dict) -> dict:
    return bundle["entry"][0]["resource"]


def organization(bundle: dict) -> dict:
    return bundle["entry"][1]["resource"]


def encounter(bundle: dict) -> dict:
    return bundle["entry"][2]["resource"]


def changed(baseline: Callable[[Examples], dict], change: Callable[[dict], object]) -> Callable[[Examples], dict]:
    """A builder: the baseline, then ``change`` applied to it in place."""
    def build(ex: Examples) -> dict:
        bundle = baseline(ex)
        change(bundle)
        return bundle
    return build


def _set(target_of: Callable[[dict], dict], key: str, value) -> Callable[[dict], None]:
    return lambda bundle: target_of(bundle).__setitem__(key, value)


def _drop(target_of: Callable[[dict], dict], key: str) -> Callable[[dict], None]:
    return lambda bundle: target_of(bundle).pop(key)


def _ins_extensions(bundle: dict, keep: Callable[[dict], bool]) -> None:
    patient(bundle)["extension"] = [e for e in patient(bundle)["extension"] if keep(e)]


PI_TYPE = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "PI",
                       "display": "Patient internal identifier"}]}
PIN_TYPE = {"coding": [{"system": "https://interop.esante.gouv.fr/ig/fhir/tddui/CodeSystem/tddui-identifier",
                        "code": "PIN", "display": "Patient initial number"}]}
IDENTITY_RELIABILITY = "https://hl7.fr/ig/fhir/core/StructureDefinition/fr-core-identity-reliability"
BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
ADMISSION_DATE = TDDUI + "tddui-admission-date"


def _ins_nia(bundle: dict) -> None:
    patient(bundle)["identifier"] = [{
        "use": "temp",
        "type": {"coding": [{"system": "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203", "code": "INS-NIA"}]},
        "system": "urn:oid:1.2.250.1.213.1.4.9", "value": "247720425367411"}]


def _urn_uuid(bundle: dict) -> None:
    ids = {}
    for number, entry in enumerate(bundle["entry"]):
        resource = entry["resource"]
        ids[f"{resource['resourceType']}/{resource['id']}"] = f"urn:uuid:00000000-0000-4000-8000-00000000000{number}"
        entry["fullUrl"] = ids[f"{resource['resourceType']}/{resource['id']}"]
    encounter(bundle)["subject"]["reference"] = ids[encounter(bundle)["subject"]["reference"]]
    encounter(bundle)["serviceProvider"]["reference"] = ids[encounter(bundle)["serviceProvider"]["reference"]]


def _three_stays(bundle: dict) -> None:
    first = bundle["entry"][2]
    finished, planned = copy.deepcopy(first), copy.deepcopy(first)
    for suffix, entry in (("1013", finished), ("1014", planned)):
        resource = entry["resource"]
        resource["id"] = f"tddui-encounter-sejour-{suffix}"
        resource["identifier"][0]["value"] = resource["identifier"][0]["value"].replace("1012", suffix)
        entry["fullUrl"] = f"https://test-server.fr/Encounter/{resource['id']}"
    finished["resource"].update(status="finished", period={"start": "2023-04-14", "end": "2023-05-05"})
    finished["resource"]["extension"].append({
        "url": "http://hl7.org/fhir/5.0/StructureDefinition/extension-Encounter.plannedStartDate",
        "valueDateTime": "2023-04-10"})
    planned["resource"]["status"] = "planned"
    planned["resource"].pop("period")
    bundle["entry"] += [finished, planned]


# ---------------------------------------------------------------- the table
@dataclass(frozen=True)
class Case:
    id: str
    description: str
    build: Callable[[Examples], dict | bytes]
    accepted: bool
    status: int | None = None        # HTTP status of the refusal
    code: str | None = None          # expected OperationOutcome issue
    severity: str | None = None
    expression: str | None = None
    content_type: str = JSON

    def body(self, ex: Examples) -> bytes:
        built = self.build(ex)
        return built if isinstance(built, bytes) else json.dumps(built, ensure_ascii=False).encode()


def _refused(id_, description, build, status, code, expression, content_type=JSON) -> Case:
    return Case(id_, description, build, False, status, code, "error", expression, content_type)


def _accepted(id_, description, build) -> Case:
    return Case(id_, description, build, True)


E0, E1, E2 = "Bundle.entry[0]", "Bundle.entry[1]", "Bundle.entry[2]"

CASES: tuple[Case, ...] = (
    _refused("I01", "Content-Type text/plain", lambda ex: json.dumps(v1(ex)).encode(), 415, "not-supported", None,
             content_type="text/plain"),
    _refused("I02", "body is not valid JSON", lambda ex: b'{"resourceType": "Bundle", ', 400, "structure", None),
    _refused("I03", "a bare Patient posted to [base]/", lambda ex: copy.deepcopy(ex.bundle["entry"][0]["resource"]),
             400, "structure", "Patient"),
    _refused("I04", "Bundle.type batch", changed(v1, _set(lambda b: b, "type", "batch")), 422, "value", "Bundle.type"),
    _refused("I05", "Bundle.type collection, with requests", changed(v1, _set(lambda b: b, "type", "collection")),
             422, "invariant", "Bundle"),
    _refused("I06", "Bundle.type missing", changed(v1, _drop(lambda b: b, "type")), 422, "required", "Bundle.type"),
    _refused("I07", "entry[0] without request", changed(v1, _drop(lambda b: b["entry"][0], "request")),
             422, "required", f"{E0}.request"),
    _refused("I08", "entry[0].request.method PUT", changed(v1, _set(lambda b: b["entry"][0]["request"], "method", "PUT")),
             422, "value", f"{E0}.request.method"),
    _refused("I09", "entry[2].request.url missing", changed(v1, _drop(lambda b: b["entry"][2]["request"], "url")),
             422, "required", f"{E2}.request.url"),
    _refused("I10", "two entries share a fullUrl",
             changed(v1, lambda b: b["entry"][1].__setitem__("fullUrl", b["entry"][0]["fullUrl"])),
             422, "invariant", "Bundle"),
    _refused("I11", "extra Observation entry",
             changed(v1, lambda b: b["entry"].append({
                 "fullUrl": "urn:uuid:6f7a0f4e-8a1b-4c3d-9e2f-0a1b2c3d4e5f",
                 "resource": {"resourceType": "Observation", "status": "final",
                              "code": {"text": "poids"}, "valueString": "72 kg"},
                 "request": {"method": "POST", "url": "Observation"}})),
             422, "business-rule", "Bundle.entry[3].resource"),
    _refused("I12", "TDDUIPatient without name", changed(v2, _drop(patient, "name")),
             422, "required", f"{E0}.resource.name"),
    _refused("I13", "TDDUIPatient with only a usual name",
             changed(v2, lambda b: patient(b).__setitem__("name", [patient(b)["name"][1]])),
             422, "required", f"{E0}.resource.name"),
    _refused("I14", "TDDUIPatient officialName without family", changed(v2, _drop(lambda b: patient(b)["name"][0], "family")),
             422, "required", f"{E0}.resource.name[0].family"),
    _refused("I15", "TDDUIPatient without birth-order extension", changed(v2, _drop(patient, "_birthDate")),
             422, "required", f"{E0}.resource.birthDate.extension"),
    _refused("I16", "birth-order valuePositiveInt 0",
             changed(v2, lambda b: patient(b)["_birthDate"]["extension"][0].__setitem__("valuePositiveInt", 0)),
             422, "value", f"{E0}.resource.birthDate.extension[0].value"),
    _refused("I17", "TDDUIPatient gender other", changed(v2, _set(patient, "gender", "other")),
             422, "code-invalid", f"{E0}.resource.gender"),
    _refused("I18", "two PI identifiers",
             changed(v2, lambda b: patient(b).__setitem__("identifier", [
                 {"use": "usual", "type": PI_TYPE, "system": "http://identifiant-ipp.com", "value": value}
                 for value in ("3480787529/194704032", "3480787529/194704033")])),
             422, "structure", f"{E0}.resource.identifier"),
    _refused("I19", "PIN identifier without value",
             changed(v2, lambda b: patient(b)["identifier"].append(
                 {"use": "usual", "type": PIN_TYPE, "system": "https://mdph.example.fr"})),
             422, "required", f"{E0}.resource.identifier[1].value"),
    _refused("I20", "name.prefix Dr", changed(v2, _set(lambda b: patient(b)["name"][0], "prefix", ["Dr"])),
             422, "code-invalid", f"{E0}.resource.name[0].prefix[0]"),
    _refused("I21", "TDDUIPatientINS without identityReliability",
             changed(v1, lambda b: _ins_extensions(b, lambda e: e["url"] != IDENTITY_RELIABILITY)),
             422, "required", f"{E0}.resource.extension"),
    _refused("I22", "identityStatus VALI without any INS identifier",
             changed(v1, _set(patient, "identifier", [
                 {"use": "usual", "type": PI_TYPE, "system": "http://identifiant-ipp.com", "value": "3480787529/194704032"}])),
             422, "invariant", f"{E0}.resource"),
    _refused("I23", "TDDUIPatientINS without birthPlace",
             changed(v1, lambda b: _ins_extensions(b, lambda e: e["url"] != BIRTH_PLACE)),
             422, "required", f"{E0}.resource.extension"),
    _refused("I24", "birthPlace without inseeCode", changed(v1, _drop(lambda b: patient(b)["extension"][1]["valueAddress"], "extension")),
             422, "required", f"{E0}.resource.extension[1].value.extension"),
    _refused("I25", "TDDUIPatientINS without birthDate", changed(v1, _drop(patient, "birthDate")),
             422, "required", f"{E0}.resource.birthDate"),
    _refused("I26", "TDDUIPatientINS without gender", changed(v1, _drop(patient, "gender")),
             422, "required", f"{E0}.resource.gender"),
    _refused("I27", "two INS-NIR identifiers",
             changed(v1, lambda b: patient(b)["identifier"].append(dict(patient(b)["identifier"][0], value="147720425367412"))),
             422, "structure", f"{E0}.resource.identifier"),
    _refused("I28", "identityStatus code XYZ",
             changed(v1, lambda b: patient(b)["extension"][0]["extension"][0]["valueCoding"].__setitem__("code", "XYZ")),
             422, "code-invalid", f"{E0}.resource.extension[0].extension[0].value"),
    _refused("I29", "Encounter without identifier", changed(v1, _drop(encounter, "identifier")),
             422, "required", f"{E2}.resource.identifier"),
    _refused("I30", "idStay type SEJ without display",
             changed(v1, lambda b: encounter(b)["identifier"][0]["type"]["coding"][0].pop("display")),
             422, "required", f"{E2}.resource.identifier"),
    _refused("I31", "two idStay identifiers",
             changed(v1, lambda b: encounter(b)["identifier"].append(dict(encounter(b)["identifier"][0], value="x-SEJOUR-2"))),
             422, "structure", f"{E2}.resource.identifier"),
    _refused("I32", "Encounter without subject", changed(v1, _drop(encounter, "subject")),
             422, "required", f"{E2}.resource.subject"),
    _refused("I33", "subject references the Organization",
             changed(v1, _set(encounter, "subject", {"reference": "Organization/tddui-organization-example"})),
             422, "invalid", f"{E2}.resource.subject"),
    _refused("I34", "subject references a missing Patient",
             changed(v1, _set(encounter, "subject", {"reference": "Patient/does-not-exist"})),
             422, "not-found", f"{E2}.resource.subject.reference"),
    _refused("I35", "Encounter without serviceProvider", changed(v1, _drop(encounter, "serviceProvider")),
             422, "required", f"{E2}.resource.serviceProvider"),
    _refused("I36", "Encounter without status", changed(v1, _drop(encounter, "status")),
             422, "required", f"{E2}.resource.status"),
    _refused("I37", "Encounter without class", changed(v1, _drop(encounter, "class")),
             422, "required", f"{E2}.resource.class"),
    _refused("I38", "period.end before period.start",
             changed(v1, _set(encounter, "period", {"start": "2023-04-14", "end": "2023-04-01"})),
             422, "invariant", f"{E2}.resource.period"),
    _refused("I39", "two admission-date extensions",
             changed(v1, lambda b: encounter(b)["extension"].append({"url": ADMISSION_DATE, "valueDateTime": "2023-04-12"})),
             422, "structure", f"{E2}.resource.extension"),
    _refused("I40", "Organization with only a FINESS identifier",
             changed(v1, _set(organization, "identifier", [{"system": "https://finess.esante.gouv.fr", "value": "480787529"}])),
             422, "required", f"{E1}.resource.identifier"),
    _accepted("V1", "IG example, request.url as resource types", v1),
    _accepted("V1-raw", "IG example as published (request.url = profile names, rewritten with warnings)",
              lambda ex: copy.deepcopy(ex.bundle)),
    _accepted("V2", "TDDUIPatient without INS", v2),
    _accepted("V3", "urn:uuid fullUrls and references", changed(v1, _urn_uuid)),
    _accepted("V4", "one patient, three stays (in progress, finished, planned)", changed(v1, _three_stays)),
    _accepted("V5", "INS-NIA patient", changed(v1, _ins_nia)),
    _accepted("V7", "a Bundle with only an Organization entry", changed(v1, lambda b: b.__setitem__("entry", [b["entry"][1]]))),
)
