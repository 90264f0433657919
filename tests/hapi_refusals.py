"""Bundles HAPI refuses that the gateway once let through (issue 17), each a small change to a valid
baseline: the gateway must refuse every one itself, with its own rule id, at the element.

Used offline by tests/conformance/test_hapi_refusals.py and against the real HAPI by
tests/integration/test_hapi_refusals.py (which shows HAPI refuses each one too).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable

from tests.cases import load_examples, v1, v2

BIRTH_ORDER = "https://interop.esante.gouv.fr/ig/fhir/tddui/StructureDefinition/tddui-birth-order"


@dataclass(frozen=True)
class Refusal:
    name: str
    baseline: Callable
    mutate: Callable[[dict], None]
    rule: str
    expression: str


def resource(bundle: dict, resource_type: str) -> dict:
    return next(e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type)


def _without_resource(bundle):
    del bundle["entry"][2]["resource"]


def _lower_case_url(bundle):
    bundle["entry"][0]["request"]["url"] = "patient"


def _unknown_search_parameter(bundle):
    bundle["entry"][1]["request"]["ifNoneExist"] = "nom-inconnu=1"


def _unknown_sub_extension(bundle):
    resource(bundle, "Patient")["extension"][0]["extension"].append({"url": "identityStatusBis", "valueString": "x"})


def _unknown_oid(bundle):
    organisation = resource(bundle, "Organization")
    organisation["type"] = [{"coding": [{"system": "urn:oid:1.2.3", "code": "x"}]}]


def _cross_version_release(bundle):
    for extension in resource(bundle, "Encounter")["extension"]:
        extension["url"] = extension["url"].replace("/fhir/5.0/", "/fhir/5.1/")


def _birth_order_integer(bundle):
    resource(bundle, "Patient")["_birthDate"] = {"extension": [{"url": BIRTH_ORDER, "valueInteger": 2}]}


def _same_day_end_with_time(bundle):
    resource(bundle, "Encounter")["period"] = {"start": "2023-04-14", "end": "2023-04-14T12:00:00+01:00"}


def _url_fragment(bundle):
    resource(bundle, "Encounter")["extension"][3]["url"] += "#x"  # HAPI reads a version out of it


REFUSALS = (
    Refusal("entry without resource", v1, _without_resource, "fhir-entry-resource", "Bundle.entry[2]"),
    Refusal("lower-case request.url", v1, _lower_case_url, "fhir-request-type", "Bundle.entry[0].request.url"),
    Refusal("ifNoneExist unknown parameter", v1, _unknown_search_parameter, "fhir-search-parameter",
            "Bundle.entry[1].request.ifNoneExist"),
    Refusal("unknown sub-extension", v1, _unknown_sub_extension, "fhir-extension-sub-url",
            "Bundle.entry[0].resource.extension[0].extension[1].url"),
    Refusal("urn:oid:1.2.3", v1, _unknown_oid, "fhir-uri-urn", "Bundle.entry[1].resource.type[0].coding[0].system"),
    Refusal("cross-version release 5.1", v1, _cross_version_release, "fhir-extension-url",
            "Bundle.entry[2].resource.extension[3].url"),
    Refusal("birth order as valueInteger", v1, _birth_order_integer, "Extension.value[x]",
            "Bundle.entry[0].resource.birthDate.extension[0].value"),
    Refusal("same-day end with a time", v1, _same_day_end_with_time, "fhir-period-precision",
            "Bundle.entry[2].resource.period"),
    Refusal("extension url with a fragment", v1, _url_fragment, "fhir-extension-url",
            "Bundle.entry[2].resource.extension[3].url"),
    Refusal("entry without resource (TDDUIPatient)", v2, _without_resource, "fhir-entry-resource", "Bundle.entry[2]"),
)


def refused_bundle(refusal: Refusal) -> dict:
    bundle = copy.deepcopy(refusal.baseline(load_examples()))
    refusal.mutate(bundle)
    return bundle
