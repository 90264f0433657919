"""Talking to the test proxy as a producer would: TLS contexts, one request per connection."""
from __future__ import annotations

import http.client
import json
import ssl
from dataclasses import dataclass

from tests.pki import CertificateAuthority, Credential
from tests.proxy_server import NginxProxy

FHIR_JSON = "application/fhir+json"
KEY_PRODUCER_KEY = "proxy-tests-api-key-of-key-dui"
SINGLE_ENTITY_FINESS = "960000001"
CERT_HEADER = "X-SSL-Client-S-DN"


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> dict:
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return (self.headers.get("Content-Type") or "").split(";")[0].strip()


def client_context(ca: CertificateAuthority, credential: Credential | None = None,
                   maximum_version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    """A client that trusts the test CA's server certificate and presents ``credential``, if any."""
    context = ssl.create_default_context(cafile=str(ca.cert_path))
    if maximum_version is not None:
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.maximum_version = maximum_version
    if credential is not None:
        context.load_cert_chain(str(credential.cert_path), str(credential.key_path))
    return context


def send(proxy: NginxProxy, context: ssl.SSLContext, method: str = "POST", path: str = "/",
         body: bytes | None = None, headers: dict | None = None, timeout: float = 120,
         source_address: tuple[str, int] | None = None) -> Answer:
    connection = http.client.HTTPSConnection("localhost", proxy.port, context=context, timeout=timeout,
                                             source_address=source_address)
    try:
        connection.request(method, path, body=body,
                           headers={"Content-Type": FHIR_JSON, "Accept": FHIR_JSON, **(headers or {})})
        response = connection.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        connection.close()


def bundle_body(bundle: dict) -> bytes:
    return json.dumps(bundle).encode("utf-8")


def rule_codes(outcome: dict) -> list[str]:
    return [coding.get("code") for issue in outcome.get("issue", [])
            for coding in (issue.get("details") or {}).get("coding", [])]
