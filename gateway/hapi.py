"""Stage 5: forward the accepted bundle to HAPI FHIR, and ask HAPI if it is ready.

HAPI being down or slow is not the producer's fault: it becomes ``Rejected``
with 503 (unreachable) or 504 (no answer within the read timeout) and an
OperationOutcome written by the gateway, never an exception page.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

import requests
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from gateway.intake import Rejected
from gateway.outcome import single

FHIR_JSON = "application/fhir+json"
CONFLICT_RETRY_PAUSES = (0.05, 0.2, 0.5)
TDDUI_BUNDLE_PROFILE = "https://interop.esante.gouv.fr/ig/fhir/tddui/StructureDefinition/tddui-bundle"


@dataclass(frozen=True)
class HapiAnswer:
    """HAPI's raw answer, kept byte for byte so it can be relayed verbatim."""

    status: int
    body: bytes
    content_type: str

    def json(self) -> dict | None:
        try:
            document = json.loads(self.body)
        except ValueError:
            return None
        return document if isinstance(document, dict) else None


def connection_refused(error: requests.ConnectionError) -> bool:
    """True when nothing reached HAPI (no connection), so nothing can have been stored."""
    cause = error.args[0] if error.args else None
    return isinstance(getattr(cause, "reason", None), (NewConnectionError, ConnectTimeoutError))


class HapiClient:
    """A small HTTP client for one HAPI FHIR base URL, with fixed timeouts."""

    def __init__(self, base_url: str, connect_timeout: float, read_timeout: float,
                 retry_on_conflict: bool = False):
        self.base_url = base_url.rstrip("/")
        self.retry_on_conflict = retry_on_conflict
        self.timeout = (connect_timeout, read_timeout)
        self.session = requests.Session()

    def post_transaction(self, bundle: dict) -> HapiAnswer:
        """POST the transaction to HAPI's base, asking for the stored resources back."""
        body = json.dumps(bundle, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": f"{FHIR_JSON}; charset=utf-8",
            "Accept": FHIR_JSON,
            "Prefer": "return=representation",
        }
        answer = self._call("POST", self.base_url + "/", data=body, headers=headers)
        for pause in CONFLICT_RETRY_PAUSES if self.retry_on_conflict else ():
            if answer.status != 409:
                break
            # Identical conditional creates racing: HAPI's unique match-URL index makes
            # all but one fail whole with 409; sent again, the transaction finds the
            # winner's resources and creates nothing.
            time.sleep(pause)
            answer = self._call("POST", self.base_url + "/", data=body, headers=headers)
        return answer

    def search(self, resource_type: str, params: dict) -> HapiAnswer:
        return self._call("GET", f"{self.base_url}/{resource_type}", params=params,
                          headers={"Accept": FHIR_JSON})

    def readiness(self) -> tuple[bool, str]:
        """HAPI answers and holds the TDDUI Bundle profile (so the package is installed)."""
        try:
            answer = self.search("StructureDefinition", {"url": TDDUI_BUNDLE_PROFILE, "_summary": "count"})
        except Rejected as refusal:
            return False, refusal.issues[0].message.en
        if answer.status != 200:
            return False, f"HAPI answered {answer.status} to the StructureDefinition search"
        found = (answer.json() or {}).get("total", 0)
        if not found:
            return False, "HAPI is up but the TDDUI package is not installed (no tddui-bundle StructureDefinition)"
        return True, "HAPI reachable, TDDUI package installed"

    def _call(self, method: str, url: str, **kwargs) -> HapiAnswer:
        try:
            response = self.session.request(method, url, timeout=self.timeout, **kwargs)
        except requests.ConnectTimeout:
            raise unreachable() from None
        except requests.Timeout:
            raise Rejected(504, [single(
                "error", "timeout",
                f"Le serveur FHIR n'a pas répondu dans le délai de {self.timeout[1]:g} s.",
                f"The FHIR server did not answer within {self.timeout[1]:g} s.",
                rule="gateway-hapi-timeout")]) from None
        except requests.ConnectionError as exc:
            if connection_refused(exc):
                raise unreachable() from None
            # The request went out: HAPI may have committed it before the line dropped.
            raise Rejected(502, [single(
                "error", "transient",
                "Le serveur FHIR a coupé la connexion sans répondre ; la transaction a pu être "
                "enregistrée ou non. Renvoyez le même Bundle : il ne sera pas créé deux fois.",
                "The FHIR server dropped the connection without answering; the transaction may or "
                "may not be stored. Send the same Bundle again: it will not be created twice.",
                rule="gateway-hapi-dropped")]) from None
        except requests.RequestException:
            raise Rejected(502, [single(
                "error", "exception",
                "Échange HTTP invalide avec le serveur FHIR.",
                "Invalid HTTP exchange with the FHIR server.",
                rule="gateway-hapi-protocol")]) from None
        return HapiAnswer(response.status_code, response.content,
                          response.headers.get("Content-Type", FHIR_JSON))


def unreachable() -> Rejected:
    """Nothing reached HAPI: safe to try again later."""
    return Rejected(503, [single(
        "error", "transient",
        "Le serveur FHIR est injoignable ; réessayez plus tard.",
        "The FHIR server is unreachable; try again later.",
        rule="gateway-hapi-unreachable")])
