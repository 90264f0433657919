"""Producers never see where HAPI lives: HAPI's base, wherever it shows in an answer, becomes the gateway's.

HAPI writes its own base into what it returns (a transaction-response's
``link`` self URL, ``fullUrl``, ``Location``, diagnostics). The public base
replacing it is ``GATEWAY_PUBLIC_BASE_URL`` when set; else the address the
request was sent to: its ``Host``, or, for a request from one of
``GATEWAY_TRUSTED_PROXIES``, the proxy's ``X-Forwarded-Proto`` and
``X-Forwarded-Host`` (werkzeug's ProxyFix, applied to those requests only);
relative when no valid host is known (werkzeug refuses a malformed one).
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from werkzeug.middleware.proxy_fix import ProxyFix


class TrustedProxies:
    """The addresses whose forwarded headers (certificate subject, scheme, host) are believed."""

    def __init__(self, addresses: Iterable[str]):
        self.networks = [ipaddress.ip_network(address, strict=False) for address in addresses]

    def trust(self, remote_addr: str | None) -> bool:
        try:
            address = ipaddress.ip_address(remote_addr or "")
        except ValueError:
            return False
        return any(address in network for network in self.networks)


class ForwardedByTrustedProxies:
    """WSGI middleware: ``X-Forwarded-Proto`` and ``-Host`` count only when a trusted proxy sent the request.

    ``X-Forwarded-For`` is left alone: the remote address stays the proxy's,
    which is what authentication checks the certificate header against.
    """

    def __init__(self, app, proxies: TrustedProxies):
        self.direct = app
        self.forwarded = ProxyFix(app, x_for=0, x_proto=1, x_host=1)
        self.proxies = proxies

    def __call__(self, environ, start_response):
        trusted = self.proxies.trust(environ.get("REMOTE_ADDR"))
        return (self.forwarded if trusted else self.direct)(environ, start_response)


def public_base(configured: str | None, host_url: str, host: str) -> str:
    """The base producers address the gateway by, without a trailing slash ('' when unknown: relative)."""
    if configured:
        return configured
    return host_url.rstrip("/") if host else ""


class InternalAddress:
    """Replaces one internal base URL in answers' bodies and headers.

    Both bases are plain URL characters (the configured one is checked in
    ``gateway.config``, a request's host by werkzeug), which JSON and XML
    write as they are: replacing the text of a rendered answer is replacing
    every string that holds it.
    """

    def __init__(self, internal_base: str):
        self.internal_base = internal_base.rstrip("/")

    def hide(self, text: str, public: str) -> str:
        return text.replace(self.internal_base, public)

    def hide_bytes(self, body: bytes, public: str) -> bytes:
        return body.replace(self.internal_base.encode(), public.encode())
