"""Compressed bodies (HAPI's Java client with its GZipContentInterceptor) through the real nginx.

nginx passes ``Content-Encoding`` and the compressed body unchanged (its
``client_max_body_size`` counts compressed bytes); the gateway decompresses
and applies ``GATEWAY_MAX_BODY_BYTES`` to what comes out.
"""
from __future__ import annotations

import gzip
import zlib

from tests.proxy.client import bundle_body, rule_codes, send


def test_a_gzip_transaction_is_stored_through_the_proxy(proxy, pki, fresh_bundle):
    answer = send(proxy, pki.context("proxy-dui"), body=gzip.compress(bundle_body(fresh_bundle)),
                  headers={"Content-Encoding": "gzip"})
    assert answer.status == 201, answer.body[:500]
    response = answer.json()
    assert len(response["entry"]) == len(fresh_bundle["entry"])
    assert all(entry["response"]["status"].startswith("201") for entry in response["entry"])


def test_a_compression_bomb_through_the_proxy_is_the_gateways_413(proxy, pki):
    """About 100 kB on the wire, past nginx's limit once expanded: the gateway refuses it while decompressing."""
    limit = int(proxy.values["GATEWAY_MAX_BODY_BYTES"])
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(1024 * 1024)
    bomb = b"".join(compressor.compress(block) for _ in range(limit // len(block) + 2)) + compressor.flush()
    assert len(bomb) < limit // 100
    answer = send(proxy, pki.context("proxy-dui"), body=bomb, headers={"Content-Encoding": "gzip"})
    assert answer.status == 413, answer.body[:500]
    assert "gateway-body-size" in rule_codes(answer.json())


def test_an_unsupported_content_encoding_through_the_proxy_is_the_gateways_415(proxy, pki, fresh_bundle):
    answer = send(proxy, pki.context("proxy-dui"), body=bundle_body(fresh_bundle),
                  headers={"Content-Encoding": "br"})
    assert answer.status == 415, answer.body[:500]
    assert "gateway-content-encoding" in rule_codes(answer.json())
