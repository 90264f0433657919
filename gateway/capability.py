"""The gateway's own CapabilityStatement, derived from TDDUIConsommateur.

The IG's statement is a *requirements* statement (and says rest.mode
``client``); the gateway answers with an *instance* statement of what it
actually serves: a server taking the system ``transaction`` in JSON.
"""
from __future__ import annotations

from datetime import datetime, timezone

from gateway.packages import PackageSet

CONSUMER_STATEMENT = "CapabilityStatement/TDDUIConsommateur"
SOFTWARE_NAME = "TDDUI Gateway"


def gateway_capability_statement(packages: PackageSet, ig_id: str, software_version: str) -> dict:
    """Build the server statement from the IG's TDDUIConsommateur requirements."""
    guide = packages.package(ig_id)
    requirements = next(
        (resource for resource in guide.resources
         if resource.get("resourceType") == "CapabilityStatement"
         and resource.get("url", "").endswith(CONSUMER_STATEMENT)),
        None)
    if requirements is None:
        raise LookupError(f"{guide.id} holds no TDDUIConsommateur CapabilityStatement")
    rest = requirements["rest"][0]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "publisher": SOFTWARE_NAME,
        "kind": "instance",
        "instantiates": [f"{requirements['url']}|{requirements['version']}"],
        "software": {"name": SOFTWARE_NAME, "version": software_version},
        "implementation": {"description": "TDDUI Flux 1 receiving gateway (Consommateur)"},
        "fhirVersion": requirements["fhirVersion"],
        "format": ["application/fhir+json", "json"],
        "implementationGuide": requirements.get("implementationGuide", []),
        "rest": [{
            "mode": "server",
            "documentation": rest.get("documentation"),
            "security": rest.get("security"),
            "resource": [
                {"type": resource["type"], "supportedProfile": resource.get("supportedProfile", [])}
                for resource in rest.get("resource", [])
            ],
            "interaction": [
                interaction for interaction in rest.get("interaction", [])
                if interaction.get("code") == "transaction"
            ],
        }],
    }
