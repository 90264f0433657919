"""Through the real nginx: answers name the address producers used, never HAPI's.

The proxy passes ``X-Forwarded-Proto`` and ``X-Forwarded-Host`` (docker/proxy.conf.template); the
gateway believes them because the proxy is in its GATEWAY_TRUSTED_PROXIES, and writes that base
where HAPI wrote its own.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from tests.proxy.client import bundle_body, send


def test_the_transaction_answer_names_the_proxys_address(proxy, pki, hapi, fresh_bundle):
    answer = send(proxy, pki.context("proxy-dui"), body=bundle_body(fresh_bundle),
                  headers={"Prefer": "return=minimal"})
    assert answer.status == 201, answer.body[:500]
    links = {link["relation"]: link["url"] for link in answer.json()["link"]}
    assert links["self"] == f"https://localhost:{proxy.port}"
    internal = urlsplit(hapi.base_url).netloc.encode()
    assert internal not in answer.body
    assert not [value for _, value in answer.headers.items() if internal.decode() in value]
