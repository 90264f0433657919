"""Stage 8: turn HAPI's answer into the gateway's answer.

A successful transaction (HAPI: 200 + transaction-response) is cut back by
the request mutation to one entry per entry the producer sent, and answered
as the release's descriptor says (``[success]``): the ballot answers ``201``
when at least one entry was created, else ``200`` (a resend, or only new
versions); 2.0.0 always ``200``. Each entry's status says whether it was created.
A 412 from two stored resources matching one entry becomes the gateway's own
OperationOutcome naming that entry; other refusals are relayed as HAPI wrote
them; an answer that is not FHIR at all is replaced by a 502 naming the problem.
"""
from __future__ import annotations

from gateway.descriptor import SuccessAnswer
from gateway.hapi import HapiAnswer
from gateway.intake import Rejected
from gateway.outcome import single
from gateway.receipt import RequestMutation


def relay(answer: HapiAnswer, mutation: RequestMutation, success: SuccessAnswer) -> tuple[int, dict]:
    """Status and FHIR document to send back to the producer; a success as the served release answers it."""
    document = answer.json()
    if answer.status == 200 and document and document.get("type") == "transaction-response":
        response = mutation.post_process(document)
        created = [str((entry.get("response") or {}).get("status", "")).startswith("201")
                   for entry in response["entry"]]
        response["entry"] = [{**entry, "response": {**(entry.get("response") or {}),
                                                    "status": success.entry_status(entry_created)}}
                             for entry, entry_created in zip(response["entry"], created)]
        return success.status(any(created)), response
    if answer.status == 412 and document and document.get("resourceType") == "OperationOutcome":
        index = mutation.entry_of_conditional_url(diagnostics_of(document))
        if index is not None:
            raise double_match(document, index)
    if answer.status >= 400 and document and document.get("resourceType") == "OperationOutcome":
        return answer.status, document
    raise Rejected(502, [single(
        "error", "exception",
        f"Réponse inattendue du serveur FHIR (HTTP {answer.status}).",
        f"Unexpected answer from the FHIR server (HTTP {answer.status}).",
        rule="gateway-hapi-unexpected")])


def diagnostics_of(outcome: dict) -> str:
    return " ".join(str(issue.get("diagnostics", "")) for issue in outcome.get("issue") or [])


def double_match(outcome: dict, index: int) -> Rejected:
    """HAPI found several stored resources for one entry's identifiers: nothing was stored."""
    diagnostics = diagnostics_of(outcome)
    where = f"Bundle.entry[{index}]"
    return Rejected(412, [single(
        "error", "conflict",
        f"Les identifiants métier de {where} désignent plusieurs ressources déjà enregistrées de cette "
        "entité juridique ; rien n'a été enregistré. Diagnostic du serveur FHIR : " + diagnostics,
        f"The business identifiers of {where} match several resources already stored for this legal "
        "entity; nothing was stored. FHIR server diagnostic: " + diagnostics,
        rule="gateway-receipt-double-match", expression=f"{where}.resource.identifier")])
