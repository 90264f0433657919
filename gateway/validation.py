"""``POST /$validate`` and ``/Bundle/$validate``: the checks of ``POST /`` with nothing stored.

Same intake, authentication, normalisation and TDDUI checks as a submission,
so a producer can test a bundle against the reference consumer. The verdict
is always 200 with an OperationOutcome listing every issue (a bundle for a
legal entity the producer is not bound to is one more issue, not a 403); only
a request that is not a Bundle, nor a Parameters carrying one, is a 4xx.
"""
from __future__ import annotations

from gateway import intake
from gateway.auth import legal_entity_scope
from gateway.conformance import ConformanceEngine
from gateway.descriptor import Descriptor
from gateway.intake import Rejected
from gateway.outcome import Issue, single
from gateway.submission import Incoming, Reception

RESOURCE_PARAMETER = "resource"  # the $validate input parameter holding the resource


class Validation:
    def __init__(self, reception: Reception, engine: ConformanceEngine, descriptor: Descriptor):
        self.reception = reception
        self.engine = engine
        self.descriptor = descriptor

    def validate(self, incoming: Incoming) -> list[Issue]:
        """Every issue the gateway finds in the posted bundle; ``Rejected`` only for a bad request."""
        received = self.reception.receive(incoming, {})
        bundle = intake.check_bundle(bundle_to_validate(received.document), self.reception.limits)
        verdict = self.engine.judge(bundle)
        if not verdict.accepted:
            return verdict.issues
        try:
            legal_entity_scope(received.producer, verdict.bundle, self.descriptor.legal_entity)
        except Rejected as refusal:
            return verdict.issues + refusal.issues
        return verdict.issues


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
