"""R5 elements used in R4 as cross-version extensions
(``http://hl7.org/fhir/5.0/StructureDefinition/extension-<R5 path>``).

No package defines them: the HL7 validator builds each definition from the R5
element. The R5 definitions are not in the closure either, so the
IG-version descriptor gives each element's R5 type; the definition built here
is R4's Extension with that url fixed, ``value[x]`` of that one type and
required, and no sub-extension (a primitive or datatype R5 element).
"""
from __future__ import annotations

import copy

from gateway.conformance.errors import EngineStartupError

R4_EXTENSION = "http://hl7.org/fhir/StructureDefinition/Extension"


def synthesise(url: str, r5_type: str, extension_definition: dict | None) -> dict:
    """The StructureDefinition of the cross-version extension ``url`` whose value is an ``r5_type``."""
    if extension_definition is None:
        raise EngineStartupError(f"cannot synthesise {url}: R4's Extension definition is not in the closure")
    elements = []
    for base in extension_definition["snapshot"]["element"]:
        element = copy.deepcopy(base)
        if element["id"] != "Extension":
            element.pop("constraint", None)
        if element["id"] == "Extension.extension":
            element["max"] = "0"
        elif element["id"] == "Extension.url":
            element["fixedUri"] = url
        elif element["id"] == "Extension.value[x]":
            element["min"] = 1
            element["type"] = [{"code": r5_type}]
        elements.append(element)
    name = url.rpartition("/")[2]
    return {"resourceType": "StructureDefinition", "id": name, "url": url, "name": name, "status": "active",
            "fhirVersion": "4.0.1", "kind": "complex-type", "abstract": False, "type": "Extension",
            "baseDefinition": R4_EXTENSION, "derivation": "constraint",
            "context": [{"type": "element", "expression": "Element"}], "snapshot": {"element": elements}}
