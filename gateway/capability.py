"""The gateway's own CapabilityStatement, derived from TDDUIConsommateur and the configuration.

The IG's statement is a *requirements* statement (and says rest.mode
``client``); the gateway answers with an *instance* statement of exactly what
it serves: the formats, the system ``transaction``, ``read`` and ``vread`` on
the resource types the requirements list, the ``$validate`` operation, and in
``security`` the authentication methods switched on.
"""
from __future__ import annotations

from datetime import datetime, timezone

from gateway.config import Settings
from gateway.packages import PackageSet

CONSUMER_STATEMENT = "CapabilityStatement/TDDUIConsommateur"
SOFTWARE_NAME = "TDDUI Gateway"
SECURITY_SERVICE_SYSTEM = "http://terminology.hl7.org/CodeSystem/restful-security-service"
VALIDATE_OPERATION = {"name": "validate", "definition": "http://hl7.org/fhir/OperationDefinition/Resource-validate",
                      "documentation": "Les contrôles de POST / sans rien enregistrer ; toujours 200 avec un "
                                       "OperationOutcome listant chaque problème."}
SERVED_READS = ("read", "vread")


def consumer_requirements(packages: PackageSet, ig_id: str) -> dict:
    guide = packages.package(ig_id)
    requirements = next(
        (resource for resource in guide.resources
         if resource.get("resourceType") == "CapabilityStatement"
         and resource.get("url", "").endswith(CONSUMER_STATEMENT)),
        None)
    if requirements is None:
        raise LookupError(f"{guide.id} holds no TDDUIConsommateur CapabilityStatement")
    return requirements


def security(settings: Settings) -> dict:
    """What a producer must present, as configured (``GATEWAY_AUTH``, certificate proxies)."""
    if not settings.auth_required:
        return {"cors": False, "description": "Aucune authentification (GATEWAY_AUTH=off) : "
                                              "toute requête est acceptée, lectures comprises."}
    methods = [f"clé d'API dans l'en-tête {settings.api_key_header}"]
    services = []
    if settings.trusted_proxies:
        methods.append(f"certificat client IGC-Santé vérifié par un mandataire TLS de confiance, "
                       f"sujet transmis dans l'en-tête {settings.certificate_header}")
        services.append({"coding": [{"system": SECURITY_SERVICE_SYSTEM, "code": "Certificates"}]})
    return {"cors": False, **({"service": services} if services else {}),
            "description": "Authentification du producteur : " + " ; ".join(methods)
                           + ". Lecture limitée aux ressources de ses entités juridiques."}


def gateway_capability_statement(packages: PackageSet, settings: Settings, software_version: str) -> dict:
    """Build the server statement from the IG's TDDUIConsommateur requirements."""
    requirements = consumer_requirements(packages, settings.implementation_guide)
    rest = requirements["rest"][0]
    bundle_profiles = [interaction["documentation"] for interaction in rest.get("interaction", [])
                       if interaction.get("code") == "transaction" and interaction.get("documentation")]
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "publisher": SOFTWARE_NAME,
        "kind": "instance",
        "instantiates": [f"{requirements['url']}|{requirements['version']}"],
        "software": {"name": SOFTWARE_NAME, "version": software_version},
        "implementation": {"description": f"TDDUI Flux 1 receiving gateway (Consommateur), "
                                          f"release {settings.implementation_guide}"},
        "fhirVersion": requirements["fhirVersion"],
        "format": requirements["format"],
        "implementationGuide": requirements.get("implementationGuide", []),
        "rest": [{
            "mode": "server",
            "documentation": rest.get("documentation"),
            "security": security(settings),
            "resource": [
                {"type": resource["type"], "supportedProfile": resource.get("supportedProfile", []),
                 "interaction": [{"code": code} for code in SERVED_READS]}
                for resource in rest.get("resource", [])
                if any(interaction.get("code") == "read" for interaction in resource.get("interaction", []))
            ] + [{"type": "Bundle", "supportedProfile": bundle_profiles, "operation": [VALIDATE_OPERATION]}],
            "interaction": [
                interaction for interaction in rest.get("interaction", [])
                if interaction.get("code") == "transaction"
            ],
            "operation": [VALIDATE_OPERATION],
        }],
    }


def readable_types(statement: dict) -> list[str]:
    """The resource types the statement declares ``read`` on."""
    return [resource["type"] for resource in statement["rest"][0]["resource"]
            if any(interaction["code"] == "read" for interaction in resource.get("interaction", []))]
