"""The production-like transport, for real: nginx (docker/proxy.conf.template) in front of the
gateway under gunicorn, in front of the session's HAPI. Started once per session, on free ports.

Producers, each with a client certificate of the test CA:

* ``proxy-dui``: bound to the IG example's FINESS and the fresh ones (several legal entities);
* ``single-dui``: bound to one legal entity only;
* ``other-dui``: the producer whose submission must get through while others misbehave;
* ``key-dui``: an API key only (for the proxy that accepts either credential).
"""
from __future__ import annotations

import os
import socket
import ssl
from dataclasses import dataclass, field

import pytest

from gateway.auth import hash_api_key
from tests.conftest import FRESH_FINESS, IG_EXAMPLE_FINESS
from tests.gateway_server import GatewayServer
from tests.hapi_server import free_port
from tests.pki import CertificateAuthority, Credential
from tests.proxy.client import KEY_PRODUCER_KEY, SINGLE_ENTITY_FINESS, client_context
from tests.proxy_server import NginxProxy, ProxyTls, nginx_binary


@pytest.fixture(scope="session", autouse=True)
def nginx_installed():
    if nginx_binary() is None:
        message = "nginx is not installed (apt-get install nginx; .ci/run installs it)"
        if os.environ.get("TDDUI_REQUIRE_NGINX"):
            pytest.fail(message)
        pytest.skip(message)


@dataclass
class Pki:
    ca: CertificateAuthority
    other_ca: CertificateAuthority
    tls: ProxyTls
    clients: dict[str, Credential] = field(default_factory=dict)

    def context(self, client: str | None = None, maximum_version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
        """A TLS client trusting the test CA, presenting ``client``'s certificate if named."""
        return client_context(self.ca, self.clients[client] if client else None, maximum_version)


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority(directory / "test-ca", "TDDUI Test CA")
    other_ca = CertificateAuthority(directory / "unrelated-ca", "Unrelated CA")
    server = ca.issue_server("localhost")
    bundle = Pki(ca, other_ca, ProxyTls(server.cert_path, server.key_path, ca.cert_path))
    for name in ("proxy-dui", "single-dui", "other-dui"):
        bundle.clients[name] = ca.issue_client(f"{name}.editeur.example")
    # Same subject as proxy-dui, but issued by a CA the proxy does not trust.
    bundle.clients["impostor"] = other_ca.issue_client("proxy-dui.editeur.example")
    return bundle


@pytest.fixture(scope="session")
def proxied_gateway(tmp_path_factory, hapi, pki) -> GatewayServer:
    clients = pki.clients
    producers = [
        {"id": "proxy-dui", "certificate_subjects": [clients["proxy-dui"].subject_dn],
         "finess": [IG_EXAMPLE_FINESS, *FRESH_FINESS]},
        {"id": "single-dui", "certificate_subjects": [clients["single-dui"].subject_dn],
         "finess": [SINGLE_ENTITY_FINESS]},
        {"id": "other-dui", "certificate_subjects": [clients["other-dui"].subject_dn],
         "finess": [*FRESH_FINESS]},
        {"id": "key-dui", "api_key_sha256": [hash_api_key(KEY_PRODUCER_KEY)], "finess": [*FRESH_FINESS]},
    ]
    server = GatewayServer(tmp_path_factory.mktemp("gunicorn"), hapi.base_url, producers, workers=2,
                           extra_env={"GATEWAY_TRUSTED_PROXIES": "127.0.0.1/32"})
    seconds = server.start()
    print(f"\ngateway under gunicorn ready in {seconds:.1f} s at {server.url}")
    yield server
    server.stop()


def start_proxy(tmp_path_factory, pki: Pki, upstream: str, name: str, **values: str) -> NginxProxy:
    proxy = NginxProxy(tmp_path_factory.mktemp(name), upstream, pki.tls, **values)
    proxy.start()
    return proxy


@pytest.fixture(scope="session")
def proxy(tmp_path_factory, pki, proxied_gateway):
    """The production configuration: mutual TLS required."""
    started = start_proxy(tmp_path_factory, pki, f"127.0.0.1:{proxied_gateway.port}", "nginx-mtls")
    yield started
    started.stop()


@pytest.fixture(scope="session")
def optional_proxy(tmp_path_factory, pki, proxied_gateway):
    """PROXY_SSL_VERIFY_CLIENT=optional: a verified certificate or an API key."""
    started = start_proxy(tmp_path_factory, pki, f"127.0.0.1:{proxied_gateway.port}", "nginx-optional",
                          PROXY_SSL_VERIFY_CLIENT="optional")
    yield started
    started.stop()


@pytest.fixture(scope="session")
def limited_proxy(tmp_path_factory, pki, proxied_gateway):
    """Small per-client limits, so that reaching them takes a handful of requests."""
    started = start_proxy(tmp_path_factory, pki, f"127.0.0.1:{proxied_gateway.port}", "nginx-limited",
                          PROXY_SSL_VERIFY_CLIENT="optional", PROXY_CONNECTIONS_PER_CLIENT="3",
                          PROXY_REQUESTS_PER_SECOND="1", PROXY_REQUEST_BURST="2")
    yield started
    started.stop()


@pytest.fixture(scope="session")
def unreachable_gateway_proxy(tmp_path_factory, pki):
    """In front of a port nothing listens on."""
    started = start_proxy(tmp_path_factory, pki, f"127.0.0.1:{free_port()}", "nginx-unreachable")
    yield started
    started.stop()


@pytest.fixture(scope="session")
def silent_gateway_proxy(tmp_path_factory, pki):
    """In front of a socket that accepts connections (the kernel's backlog) and never answers."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)
    started = start_proxy(tmp_path_factory, pki, f"127.0.0.1:{silent.getsockname()[1]}", "nginx-silent",
                          PROXY_UPSTREAM_TIMEOUT="2")
    yield started
    started.stop()
    silent.close()
