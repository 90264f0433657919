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
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util import Retry

from gateway.intake import Rejected
from gateway.outcome import single

FHIR_JSON = "application/fhir+json"


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

    def __init__(self, base_url: str, connect_timeout: float, read_timeout: float):
        self.base_url = base_url.rstrip("/")
        self.timeout = (connect_timeout, read_timeout)
        self.session = requests.Session()
        self.session.mount(self.base_url, HTTPAdapter(max_retries=conflict_retry()))

    def post_transaction(self, bundle: dict, representation: bool = True, started: float | None = None) -> HapiAnswer:
        """POST the transaction to HAPI's base, asking for the stored resources back only when wanted.

        ``started`` (``time.monotonic()`` when the request arrived): HAPI is then
        given what is left of connect + read timeout, not all of it, so a bundle
        whose checks took long is still answered (504) before gunicorn's worker
        timeout (connect + read + 30 s) kills the worker mid-request.
        """
        body = json.dumps(bundle, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": f"{FHIR_JSON}; charset=utf-8",
            "Accept": FHIR_JSON,
            "Prefer": "return=representation" if representation else "return=minimal",
        }
        read_timeout = self.timeout[1]
        if started is not None:
            read_timeout = max(1.0, min(read_timeout, sum(self.timeout) - (time.monotonic() - started)))
        # _pretty=false: the answer is parsed, never shown; indenting 10,000 resources costs HAPI time
        return self._call("POST", self.base_url + "/", params={"_pretty": "false"}, data=body, headers=headers,
                          read_timeout=read_timeout)

    def read(self, resource_type: str, resource_id: str, version_id: str | None = None) -> HapiAnswer:
        """GET one resource, or one version of it."""
        path = f"{resource_type}/{resource_id}" + (f"/_history/{version_id}" if version_id else "")
        return self._call("GET", f"{self.base_url}/{path}", headers={"Accept": FHIR_JSON})

    def search(self, resource_type: str, params: dict) -> HapiAnswer:
        return self._call("GET", f"{self.base_url}/{resource_type}", params=params,
                          headers={"Accept": FHIR_JSON})

    def readiness(self, package_id: str, bundle_profile: str) -> tuple[bool, str]:
        """HAPI answers and holds the served release's Bundle profile, and no other release's.

        Which release HAPI loaded is read from the version of the Bundle profile it
        installed (HAPI stores each package's StructureDefinitions with their version)."""
        name, _, served = package_id.partition("#")
        try:
            answer = self.search("StructureDefinition", {"url": bundle_profile, "_elements": "version"})
        except Rejected as refusal:
            return False, refusal.issues[0].message.en
        if answer.status != 200:
            return False, f"HAPI answered {answer.status} to the StructureDefinition search"
        loaded = sorted({str((entry.get("resource") or {}).get("version"))
                         for entry in (answer.json() or {}).get("entry") or []})
        if not loaded:
            return False, f"HAPI is up but {package_id} is not installed (no StructureDefinition {bundle_profile})"
        if loaded != [served]:
            hapi_releases = ", ".join(f"{name}#{version}" for version in loaded)
            return False, f"HAPI is loaded with {hapi_releases}, the gateway serves {package_id}: " \
                          f"start HAPI with the same TDDUI_IG"
        return True, f"HAPI reachable, {package_id} installed"

    def _call(self, method: str, url: str, read_timeout: float | None = None, **kwargs) -> HapiAnswer:
        timeout = (self.timeout[0], read_timeout or self.timeout[1])
        try:
            response = self.session.request(method, url, timeout=timeout, **kwargs)
        except requests.ConnectTimeout:
            raise unreachable() from None
        except requests.Timeout:
            raise Rejected(504, [single(
                "error", "timeout",
                f"Le serveur FHIR n'a pas répondu dans le délai de {timeout[1]:.0f} s.",
                f"The FHIR server did not answer within {timeout[1]:.0f} s.",
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


def conflict_retry() -> Retry:
    """Resend a transaction HAPI refused whole with 409, and nothing else.

    Twins racing on the same business identifiers: HAPI's unique match-URL
    index, or a version conflict between two updates, fails all but one whole
    with 409; sent again, each finds the winner's resources. A 409 commits
    nothing, so resending is safe. Connection and read errors are never retried
    here: the pipeline reports them (503, 502, 504) for the producer to resend.
    """
    # read=False re-raises a read error as it is (504 on a timeout, 502 on a drop), as requests' default does
    return Retry(total=4, connect=0, read=False, redirect=0, other=0, status=4, status_forcelist=(409,),
                 allowed_methods=frozenset({"POST"}), backoff_factor=0.1, raise_on_status=False,
                 respect_retry_after_header=False)


def unreachable() -> Rejected:
    """Nothing reached HAPI: safe to try again later."""
    return Rejected(503, [single(
        "error", "transient",
        "Le serveur FHIR est injoignable ; réessayez plus tard.",
        "The FHIR server is unreachable; try again later.",
        rule="gateway-hapi-unreachable")])
