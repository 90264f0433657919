"""Producers through the real nginx (docker/proxy.conf.template) to the gateway under gunicorn and HAPI.

What nginx does with a certificate of another CA, found by running it: the TLS
1.3 handshake completes (the client sends its certificate after the server's
Finished, and nginx's verify callback never aborts), then nginx refuses the
request itself (its code 495) before anything reaches the gateway; the
template turns that into 401 with an OperationOutcome. The tests below assert
exactly that, and that the gateway never saw the request.
"""
from __future__ import annotations

import copy
import json
import socket
import ssl
import threading
import time
import uuid

import pytest
import requests

from tests.conftest import as_submitted, freshen
from tests.proxy.client import CERT_HEADER, FHIR_JSON, KEY_PRODUCER_KEY, bundle_body, rule_codes, send

LIVENESS_S = 10
EMPTY_TRANSACTION = b'{"resourceType":"Bundle","type":"transaction"}'


def request_id() -> str:
    return f"proxy-test-{uuid.uuid4()}"


def audit_of(gateway, rid: str) -> dict:
    """The gateway's audit line for one request (it is written before the answer leaves)."""
    records = [record for record in gateway.audit_records() if record.get("request_id") == rid]
    assert len(records) == 1, f"expected one audit line for {rid}:\n{gateway.log_tail()}"
    return records[0]


def assert_proxy_outcome(answer, status: int, rule: str) -> dict:
    assert answer.status == status, answer.body[:500]
    assert answer.content_type == FHIR_JSON
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert rule in rule_codes(outcome), outcome
    return outcome


def assert_never_reached_gateway(gateway, rid: str) -> None:
    assert not [line for line in gateway.log_lines() if rid in line], gateway.log_tail()


# ------------------------------------------------------------------ who is calling
def test_a_test_ca_certificate_is_stored_and_is_the_audited_producer(proxy, proxied_gateway, pki, fresh_bundle):
    rid = request_id()
    answer = send(proxy, pki.context("proxy-dui"), body=bundle_body(fresh_bundle), headers={"X-Request-ID": rid})
    assert answer.status == 201, answer.body[:2000]
    assert answer.json()["type"] == "transaction-response"
    record = audit_of(proxied_gateway, rid)
    assert (record["producer"], record["status"]) == ("proxy-dui", 201)


def test_the_whole_consumer_contract_goes_through_the_proxy(proxy, pki, fresh_bundle):
    """Read and vread of what was just stored, and $validate, reach the gateway; the probes do not."""
    context = pki.context("proxy-dui")
    stored = send(proxy, context, body=bundle_body(fresh_bundle))
    assert stored.status == 201, stored.body[:2000]
    for entry in stored.json()["entry"]:
        resource = entry["resource"]
        path = f"/{resource['resourceType']}/{resource['id']}"
        assert send(proxy, context, method="GET", path=path).status == 200
        assert send(proxy, context, method="GET", path=f"{path}/_history/1").status == 200
    checked = send(proxy, context, path="/$validate", body=bundle_body(fresh_bundle))
    assert checked.status == 200 and checked.json()["resourceType"] == "OperationOutcome"


def test_a_certificate_of_another_ca_is_refused_by_the_proxy_before_the_gateway(proxy, proxied_gateway, pki):
    """Same subject DN as a known producer, issued by an untrusted CA: nginx's 495, as a 401."""
    rid = request_id()
    context = pki.context()
    context.load_cert_chain(str(pki.clients["impostor"].cert_path), str(pki.clients["impostor"].key_path))
    answer = send(proxy, context, body=EMPTY_TRANSACTION, headers={"X-Request-ID": rid})
    outcome = assert_proxy_outcome(answer, 401, "proxy-certificate-refused")
    assert outcome["issue"][0]["code"] == "security"
    assert_never_reached_gateway(proxied_gateway, rid)


def test_mutual_tls_proxy_refuses_a_request_without_certificate(proxy, proxied_gateway, pki):
    rid = request_id()
    answer = send(proxy, pki.context(), body=EMPTY_TRANSACTION,
                  headers={"X-Request-ID": rid, "X-API-Key": KEY_PRODUCER_KEY})
    assert_proxy_outcome(answer, 401, "proxy-certificate-required")
    assert_never_reached_gateway(proxied_gateway, rid)


def test_no_certificate_and_no_key_is_the_gateways_401(optional_proxy, proxied_gateway, pki):
    rid = request_id()
    answer = send(optional_proxy, pki.context(), body=EMPTY_TRANSACTION, headers={"X-Request-ID": rid})
    assert answer.status == 401 and answer.content_type == FHIR_JSON
    assert "gateway-authentication" in rule_codes(answer.json())
    assert audit_of(proxied_gateway, rid)["status"] == 401


def test_an_api_key_alone_is_enough_where_certificates_are_optional(optional_proxy, proxied_gateway, pki):
    rid = request_id()
    answer = send(optional_proxy, pki.context(), body=EMPTY_TRANSACTION,
                  headers={"X-Request-ID": rid, "X-API-Key": KEY_PRODUCER_KEY})
    assert answer.status != 401, answer.body[:500]   # authenticated; the empty bundle itself is refused
    assert audit_of(proxied_gateway, rid)["producer"] == "key-dui"


def test_a_forged_subject_header_without_certificate_is_dropped(optional_proxy, proxied_gateway, pki):
    """The DN of a real producer, sent as a header (and its underscore twin): still nobody."""
    rid = request_id()
    forged = pki.clients["proxy-dui"].subject_dn
    answer = send(optional_proxy, pki.context(), body=EMPTY_TRANSACTION,
                  headers={"X-Request-ID": rid, CERT_HEADER: forged, CERT_HEADER.replace("-", "_"): forged,
                           CERT_HEADER.lower(): forged})
    assert answer.status == 401, answer.body[:500]
    assert audit_of(proxied_gateway, rid)["producer"] != "proxy-dui"


def test_a_forged_subject_header_beside_a_certificate_is_overwritten(proxy, proxied_gateway, pki):
    rid = request_id()
    forged = pki.clients["proxy-dui"].subject_dn
    answer = send(proxy, pki.context("other-dui"), body=EMPTY_TRANSACTION,
                  headers={"X-Request-ID": rid, CERT_HEADER: forged, CERT_HEADER.replace("-", "_"): forged})
    assert answer.status != 401, answer.body[:500]
    assert audit_of(proxied_gateway, rid)["producer"] == "other-dui"


# ------------------------------------------------------------------ TLS
def test_the_proxy_speaks_tls_1_3(proxy, pki):
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as raw:
        with pki.context("proxy-dui").wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() == "TLSv1.3"


def test_a_tls_1_2_client_is_refused_in_the_handshake(proxy, pki):
    context = pki.context("proxy-dui", maximum_version=ssl.TLSVersion.TLSv1_2)
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as raw:
        with pytest.raises(ssl.SSLError, match="(?i)protocol.version|unsupported.protocol|wrong.version"):
            context.wrap_socket(raw, server_hostname="localhost")


def test_plain_http_on_the_tls_port_is_an_operation_outcome(proxy):
    answer = requests.post(f"http://127.0.0.1:{proxy.port}/", data=EMPTY_TRANSACTION, timeout=10)
    assert answer.status_code == 400 and answer.headers["Content-Type"] == FHIR_JSON
    assert "proxy-plain-http" in rule_codes(answer.json())


# ------------------------------------------------------------------ what the proxy itself answers
def test_a_body_over_the_limit_is_413_as_an_operation_outcome(proxy, proxied_gateway, pki):
    rid = request_id()
    too_large = b" " * (int(proxy.values["GATEWAY_MAX_BODY_BYTES"]) + 1)
    answer = send(proxy, pki.context("proxy-dui"), body=too_large, headers={"X-Request-ID": rid})
    outcome = assert_proxy_outcome(answer, 413, "proxy-body-too-large")
    assert outcome["issue"][0]["code"] == "too-long"
    assert_never_reached_gateway(proxied_gateway, rid)


@pytest.mark.parametrize("request_bytes, status, rule", [
    (b"NOT AN HTTP REQUEST\r\n\r\n", b"400", "proxy-bad-request"),   # no URI at all
    (b"GET / HTTP/1.1\r\nHost: localhost\r\nNo colon here\r\n\r\n", b"400", "proxy-bad-request"),
    (b"GET / HTTP/9.9\r\nHost: localhost\r\n\r\n", b"505", "proxy-http-version"),
])
def test_a_malformed_request_is_an_operation_outcome(proxy, pki, request_bytes, status, rule):
    with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as raw:
        with pki.context("proxy-dui").wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(request_bytes)
            received = b""
            try:
                while chunk := tls.recv(65536):
                    received += chunk
            except ssl.SSLEOFError:   # closed without close_notify: what came before still counts
                pass
    head, _, body = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 " + status), head
    assert b"Content-Type: application/fhir+json" in head
    assert rule in rule_codes(json.loads(body))


def test_no_server_version_in_answers(proxy, pki):
    for path in ("/metadata", "/unknown"):
        answer = send(proxy, pki.context("proxy-dui"), method="GET", path=path)
        assert answer.headers.get("Server") == "nginx"


def test_the_capability_statement_is_public_and_internal_endpoints_are_not(proxy, pki):
    metadata = send(proxy, pki.context("proxy-dui"), method="GET", path="/metadata")
    assert metadata.status == 200 and metadata.json()["resourceType"] == "CapabilityStatement"
    for internal in ("/metrics", "/readyz", "/healthz"):
        answer = send(proxy, pki.context("proxy-dui"), method="GET", path=internal,
                      headers={"Accept-Language": "en"})
        outcome = assert_proxy_outcome(answer, 404, "proxy-unknown-path")
        assert outcome["issue"][0]["diagnostics"].startswith("Unknown path")


def test_the_gateways_own_refusals_pass_unchanged(proxy, pki):
    answer = send(proxy, pki.context("proxy-dui"), body=b"{}", headers={"Content-Type": "text/plain"})
    assert answer.status == 415 and answer.content_type == FHIR_JSON
    assert not any(code.startswith("proxy-") for code in rule_codes(answer.json()))


def test_an_unreachable_gateway_is_502_as_an_operation_outcome(unreachable_gateway_proxy, pki):
    answer = send(unreachable_gateway_proxy, pki.context("proxy-dui"), body=EMPTY_TRANSACTION)
    assert_proxy_outcome(answer, 502, "proxy-gateway-unreachable")


def test_a_silent_gateway_is_504_as_an_operation_outcome(silent_gateway_proxy, pki):
    started = time.monotonic()
    answer = send(silent_gateway_proxy, pki.context("proxy-dui"), body=EMPTY_TRANSACTION, timeout=30)
    assert_proxy_outcome(answer, 504, "proxy-gateway-timeout")
    assert time.monotonic() - started < 20


# ------------------------------------------------------------------ limits
class Trickler:
    """A client that sends its headers, then its body one byte per second, and never finishes."""

    def __init__(self, port: int, context: ssl.SSLContext | None, source: str, declared_length: int = 100_000,
                 api_key: str | None = None):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
        self.sock = context.wrap_socket(raw, server_hostname="localhost") if context else raw
        key_line = b"X-API-Key: %s\r\n" % api_key.encode() if api_key else b""
        self.sock.sendall(b"POST / HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/fhir+json\r\n"
                          b"%sContent-Length: %d\r\n\r\n{" % (key_line, declared_length))

    def drip(self) -> bool:
        """One more byte; False once the server has closed or answered."""
        try:
            self.sock.sendall(b" ")
            return True
        except OSError:
            return False

    def answered(self) -> bytes:
        """Whatever the server sent back so far (nothing, for a connection still being read)."""
        self.sock.setblocking(False)
        try:
            return self.sock.recv(4096)
        except (BlockingIOError, ssl.SSLWantReadError):
            return b""
        except OSError:
            return b"(closed)"
        finally:
            self.sock.setblocking(True)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def loopback_addresses(count: int, network: int) -> list[str]:
    """Distinct source addresses (Linux routes all of 127.0.0.0/8 to the loopback interface)."""
    return [f"127.0.{network}.{host}" for host in range(1, count + 1)]


class TrickleAttack:
    """One trickler per source address given, dripping in a background thread."""

    def __init__(self, port: int, context_factory, sources: list[str], api_key: str | None = None):
        self.tricklers = [Trickler(port, context_factory(), source, api_key=api_key) for source in sources]
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> "TrickleAttack":
        self.thread.start()
        return self

    def _run(self) -> None:
        while not self.stopped.wait(1.0):
            for trickler in self.tricklers:
                trickler.drip()

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join(timeout=5)
        for trickler in self.tricklers:
            trickler.close()


def test_slow_bodies_never_hold_a_gunicorn_worker(optional_proxy, proxied_gateway, pki, fresh_bundle,
                                                  ig_example_bundle):
    """20 connections drip bodies at one byte per second (anonymous, so nginx must read the bodies
    before the gateway can refuse them); another producer's submission still gets its answer."""
    warm_up = send(optional_proxy, pki.context("other-dui"),
                   body=bundle_body(freshen(as_submitted(copy.deepcopy(ig_example_bundle)))))
    assert warm_up.status == 201, warm_up.body[:1000]
    baseline_started = time.monotonic()
    baseline = send(optional_proxy, pki.context("other-dui"), method="GET", path="/metadata")
    baseline_seconds = time.monotonic() - baseline_started
    assert baseline.status == 200

    with TrickleAttack(optional_proxy.port, pki.context, loopback_addresses(20, 20)) as attack:
        time.sleep(3)   # every trickler is in its body by now, at 3 bytes
        rid = request_id()
        started = time.monotonic()
        answer = send(optional_proxy, pki.context("other-dui"), body=bundle_body(fresh_bundle),
                      headers={"X-Request-ID": rid}, timeout=LIVENESS_S)
        seconds = time.monotonic() - started
        still_dripping = sum(trickler.answered() == b"" and trickler.drip() for trickler in attack.tricklers)
    print(f"\nsubmission answered in {seconds:.2f} s while 20 connections trickled "
          f"(GET /metadata before: {baseline_seconds:.2f} s)")
    assert answer.status == 201, answer.body[:1000]
    assert seconds < LIVENESS_S
    assert still_dripping == 20, "every trickler was still being read by nginx, none refused"
    assert audit_of(proxied_gateway, rid)["producer"] == "other-dui"


def test_without_the_proxy_two_slow_bodies_lock_every_producer_out(proxied_gateway):
    """The control: the same drip straight at gunicorn's two sync workers blocks even /healthz.

    The tricklers carry a valid API key: an anonymous one is answered 401 before its body is read.
    """
    with TrickleAttack(proxied_gateway.port, lambda: None, loopback_addresses(2, 40), api_key=KEY_PRODUCER_KEY):
        time.sleep(1)
        with pytest.raises(requests.exceptions.Timeout):
            requests.get(proxied_gateway.url + "healthz", timeout=5)
    deadline = time.monotonic() + LIVENESS_S
    while True:   # the workers come back once the tricklers hang up
        try:
            assert requests.get(proxied_gateway.url + "healthz", timeout=2).status_code == 200
            break
        except requests.RequestException:
            assert time.monotonic() < deadline, "gunicorn did not recover after the tricklers hung up"


def test_connections_beyond_the_per_client_limit_get_429(limited_proxy, pki):
    """Three slow connections from one address are the limit; a fourth is refused, another address is not."""
    source = "127.0.60.1"
    with TrickleAttack(limited_proxy.port, pki.context, [source] * 3):
        time.sleep(1.5)
        answer = send(limited_proxy, pki.context(), method="GET", path="/metadata", source_address=(source, 0))
        outcome = assert_proxy_outcome(answer, 429, "proxy-rate-limit")
        assert outcome["issue"][0]["code"] == "throttled" and answer.headers["Retry-After"] == "1"
        elsewhere = send(limited_proxy, pki.context(), method="GET", path="/metadata",
                         source_address=("127.0.61.1", 0))
        assert elsewhere.status == 200


def test_requests_beyond_the_per_client_rate_get_429(limited_proxy, pki):
    statuses = [send(limited_proxy, pki.context("other-dui"), method="GET", path="/metadata").status
                for _ in range(8)]
    assert 200 in statuses and 429 in statuses, statuses
    # The limit is per client: another certificate still gets through at once.
    assert send(limited_proxy, pki.context("proxy-dui"), method="GET", path="/metadata").status == 200
