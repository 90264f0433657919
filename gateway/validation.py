"""``POST /$validate`` and ``/Bundle/$validate``: the checks of ``POST /`` with nothing stored.

Same intake, authentication, normalisation and TDDUI checks as a submission,
so a producer can test a bundle against the reference consumer. The verdict
is always 200 with an OperationOutcome listing every issue (a bundle for a
legal entity the producer is not bound to is one more issue, not a 403); only
a request that is not a Bundle, nor a Parameters carrying one, is a 4xx.
"""
from __future__ import annotations

from gateway import intake
from gateway.auth import Authenticator, authorise
from gateway.conformance import ConformanceEngine
from gateway.fhir_xml import FhirXml
from gateway.formats import XML, body_format
from gateway.intake import Limits, Rejected
from gateway.outcome import Issue, single

RESOURCE_PARAMETER = "resource"  # the $validate input parameter holding the resource


class Validation:
    def __init__(self, limits: Limits, authenticator: Authenticator | None, engine: ConformanceEngine,
                 xml: FhirXml):
        self.limits = limits
        self.authenticator = authenticator
        self.engine = engine
        self.xml = xml

    def validate(self, headers, remote_addr: str | None, stream, content_length: int | None) -> list[Issue]:
        """Every issue the gateway finds in the posted bundle; ``Rejected`` only for a bad request."""
        intake.check_media_types(headers.get("Content-Type"), headers.get("Accept"))
        raw = intake.read_body(stream, content_length, self.limits)
        if body_format(headers.get("Content-Type")) == XML:
            document = self.xml.parse_resource(raw, self.limits)
        else:
            document = intake.parse_resource(raw, self.limits)
        bundle = intake.check_bundle(bundle_to_validate(document), self.limits)
        scope_issues = []
        if self.authenticator:
            producer = self.authenticator.authenticate(headers, remote_addr)
            try:
                authorise(producer, bundle)
            except Rejected as refusal:
                scope_issues = refusal.issues
        return scope_issues + self.engine.judge(bundle).issues


def bundle_to_validate(document: dict) -> dict:
    """The Bundle itself, or the one a Parameters carries in its ``resource`` parameter."""
    if document["resourceType"] != "Parameters":
        return document
    resources = [parameter.get("resource") for parameter in document.get("parameter") or []
                 if isinstance(parameter, dict) and parameter.get("name") == RESOURCE_PARAMETER]
    if len(resources) != 1 or not isinstance(resources[0], dict) or "resourceType" not in resources[0]:
        raise Rejected(400, [single(
            "error", "required",
            "Le Parameters doit porter exactement un paramètre « resource » contenant le Bundle.",
            "The Parameters must carry exactly one 'resource' parameter holding the Bundle.",
            rule="gateway-validate-parameters", expression="Parameters.parameter")])
    return resources[0]
