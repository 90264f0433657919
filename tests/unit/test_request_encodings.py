"""What producers' libraries put on the wire (../shared/docs/clients.md): compressed bodies and legacy media types.

``$validate`` runs the same intake as ``POST /`` and needs no HAPI, so a body
the intake reads correctly is "Le Bundle est valide." here; a gzip body
stored through nginx, the gateway under gunicorn and the real HAPI is in
tests/proxy/test_compressed_bodies.py.
"""
from __future__ import annotations

import gzip
import io
import json
import tracemalloc
import zlib
from dataclasses import replace

import pytest

from gateway.app import create_app
from gateway.fhir_xml import FhirXml
from gateway.intake import Limits, Rejected, read_body
from tests.conftest import TEST_API_KEY, as_submitted

LIMIT = 200_000


@pytest.fixture(scope="module")
def client(settings):
    limited = replace(settings, hapi_base_url="http://127.0.0.1:9/fhir", max_body_bytes=LIMIT)
    client = create_app(limited).test_client()
    client.environ_base["HTTP_X_API_KEY"] = TEST_API_KEY
    return client


@pytest.fixture()
def example_body(ig_example_bundle) -> bytes:
    return json.dumps(as_submitted(ig_example_bundle)).encode()


@pytest.fixture()
def gateway_xml_body(settings, example_body) -> bytes:
    """The IG example as FHIR XML, written by the gateway's own writer."""
    xml = FhirXml.from_package(settings.r4_core_package_path)
    return xml.to_xml(json.loads(example_body)).encode()


def rule_of(response) -> str:
    return response.get_json()["issue"][0]["details"]["coding"][0]["code"]


def is_valid(response) -> bool:
    outcome = response.get_json()
    return response.status_code == 200 and outcome["issue"][-1]["details"]["coding"][0]["code"] == "gateway-valid"


def zlib_stream(data: bytes) -> bytes:
    return zlib.compress(data)


def zero_bomb(size: int, wbits: int) -> bytes:
    """``size`` zero bytes compressed (about a thousandth of it), built without holding them all."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = bytes(1024 * 1024)
    return b"".join(compressor.compress(block) for _ in range(size // len(block))) + compressor.flush()


@pytest.mark.parametrize("encoding, compress", [
    ("gzip", gzip.compress), ("x-gzip", gzip.compress), ("deflate", zlib_stream),
    ("GZIP", gzip.compress), ("identity", lambda data: data), ("gzip, identity", gzip.compress)])
def test_a_compressed_body_is_read_decompressed(client, example_body, encoding, compress):
    response = client.post("/$validate", data=compress(example_body), content_type="application/fhir+json",
                           headers={"Content-Encoding": encoding})
    assert is_valid(response), response.get_data(as_text=True)


def test_the_limit_applies_to_the_decompressed_size(client, example_body):
    padded = json.loads(example_body)
    padded["entry"][0]["resource"]["text"]["div"] = (
        '<div xmlns="http://www.w3.org/1999/xhtml">' + " " * LIMIT + "</div>")
    compressed = gzip.compress(json.dumps(padded).encode())
    assert len(compressed) < LIMIT / 10
    response = client.post("/$validate", data=compressed, content_type="application/fhir+json",
                           headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert rule_of(response) == "gateway-body-size"
    assert "une fois décompressé" in response.get_json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize("encoding, wbits", [("gzip", 16 + zlib.MAX_WBITS), ("deflate", zlib.MAX_WBITS)])
def test_a_compression_bomb_is_refused_before_it_is_expanded(encoding, wbits):
    """200 MiB of zeros in about 200 kB: refused while no more than the limit was ever produced."""
    bomb = zero_bomb(200 * 1024 * 1024, wbits)
    tracemalloc.start()
    try:
        with pytest.raises(Rejected) as refused:
            read_body(io.BytesIO(bomb), len(bomb), Limits(max_body_bytes=LIMIT), encoding)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.status == 413
    assert refused.value.issues[0].rule == "gateway-body-size"
    assert peak < len(bomb) + 4 * LIMIT, peak


def test_a_compression_bomb_through_the_app_is_413(client):
    response = client.post("/", data=zero_bomb(64 * 1024 * 1024, 16 + zlib.MAX_WBITS),
                           content_type="application/fhir+json", headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert rule_of(response) == "gateway-body-size"


@pytest.mark.parametrize("encoding", ["br", "compress", "zstd", "gzip, gzip", "gzip, br", "chunked"])
def test_another_content_encoding_is_415(client, example_body, encoding):
    response = client.post("/", data=gzip.compress(example_body), content_type="application/fhir+json",
                           headers={"Content-Encoding": encoding, "Accept-Language": "en"})
    assert response.status_code == 415
    assert response.get_json()["resourceType"] == "OperationOutcome"
    assert rule_of(response) == "gateway-content-encoding"
    assert "gzip or deflate" in response.get_json()["issue"][0]["diagnostics"]


def test_the_content_encoding_is_checked_before_authentication(settings, example_body):
    """Like the media types: a header-only refusal, before who is asking."""
    anonymous = create_app(replace(settings, hapi_base_url="http://127.0.0.1:9/fhir")).test_client()
    response = anonymous.post("/", data=example_body, content_type="application/fhir+json",
                              headers={"Content-Encoding": "br"})
    assert response.status_code == 415


@pytest.mark.parametrize("body", [
    pytest.param(b"not gzip at all", id="not-compressed"),
    pytest.param(b"", id="empty"),
    pytest.param(gzip.compress(b'{"resourceType": "Bundle"}')[:-12], id="truncated"),
    pytest.param(gzip.compress(b'{"resourceType": "Bundle"}') + b"trailing", id="trailing-bytes"),
])
def test_a_corrupt_compressed_body_is_400(client, body):
    response = client.post("/", data=body, content_type="application/fhir+json",
                           headers={"Content-Encoding": "gzip"})
    assert response.status_code == 400
    assert rule_of(response) == "gateway-content-encoding-corrupt"


def test_a_compressed_xml_body_is_read(client, gateway_xml_body):
    response = client.post("/$validate", data=gzip.compress(gateway_xml_body), content_type="application/fhir+xml",
                           headers={"Content-Encoding": "gzip", "Accept": "application/fhir+json"})
    assert is_valid(response), response.get_data(as_text=True)


@pytest.mark.parametrize("content_type", [
    "application/json+fhir", "application/json+fhir; charset=UTF-8", "application/fhir+json; charset=UTF-8",
    "application/json", "application/fhir+json;fhirVersion=4.0"])
def test_json_media_types_old_and_new_are_accepted(client, example_body, content_type):
    assert is_valid(client.post("/$validate", data=example_body, content_type=content_type))


@pytest.mark.parametrize("content_type", ["application/xml+fhir", "application/fhir+xml; charset=UTF-8",
                                          "application/xml", "text/xml"])
def test_xml_media_types_old_and_new_are_accepted(client, gateway_xml_body, content_type):
    response = client.post("/$validate", data=gateway_xml_body, content_type=content_type,
                           headers={"Accept": "application/fhir+json"})
    assert is_valid(response), response.get_data(as_text=True)


HAPI_CLIENT_ACCEPT = ("application/fhir+xml;q=1.0, application/fhir+json;q=1.0, "
                      "application/xml+fhir;q=0.9, application/json+fhir;q=0.9")


@pytest.mark.parametrize("accept, content_type, answered", [
    (HAPI_CLIENT_ACCEPT, "application/fhir+json", "application/fhir+json"),  # a tie: the body's format, as HAPI
    ("application/json+fhir", "application/fhir+json", "application/fhir+json"),
    ("application/xml+fhir", "application/fhir+json", "application/fhir+xml"),
    ("application/xml+fhir;q=0.4, application/json+fhir;q=0.8", "application/fhir+json", "application/fhir+json"),
    ("application/json;q=0.5, application/fhir+xml", "application/fhir+json", "application/fhir+xml"),
    ("application/fhir+json;q=0.2, */*;q=0.1", "application/fhir+json", "application/fhir+json"),
])
def test_accept_weighs_q_values_and_legacy_types(client, example_body, accept, content_type, answered):
    response = client.post("/$validate", data=example_body, content_type=content_type, headers={"Accept": accept})
    assert response.status_code == 200
    assert response.mimetype == answered


@pytest.mark.parametrize("format_parameter, answered", [
    ("xml", "application/fhir+xml"), ("json", "application/fhir+json"),
    ("application/fhir+xml", "application/fhir+xml"), ("application/xml+fhir", "application/fhir+xml"),
    ("application/json+fhir", "application/fhir+json")])
def test_format_parameter_on_a_post_overrides_accept(client, example_body, format_parameter, answered):
    response = client.post("/$validate", data=example_body, content_type="application/fhir+json",
                           query_string={"_format": format_parameter}, headers={"Accept": "text/html"})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == answered


def test_an_unknown_format_parameter_on_a_post_is_406(client, example_body):
    response = client.post("/", data=example_body, content_type="application/fhir+json",
                           query_string={"_format": "html"})
    assert response.status_code == 406
    assert rule_of(response) == "gateway-accept"
