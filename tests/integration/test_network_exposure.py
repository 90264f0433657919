"""HAPI has no authentication of its own: it must listen on loopback only (``server.address``,
SERVER_ADDRESS, default 127.0.0.1 in hapi-config/application.yaml), never on every interface."""
from __future__ import annotations

import ipaddress
from pathlib import Path

from tests.cases import hapi_config

LISTEN = "0A"


def listening_addresses(port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Local addresses of the sockets listening on ``port``, from /proc/net/tcp and tcp6."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address_hex, port_hex = local.split(":")
            if state != LISTEN or int(port_hex, 16) != port:
                continue
            # The kernel prints each 32-bit word in host (little-endian) order.
            raw = b"".join(bytes.fromhex(address_hex[i:i + 8])[::-1] for i in range(0, len(address_hex), 8))
            found.append(ipaddress.ip_address(raw))
    return found


def is_loopback(address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    return (mapped or address).is_loopback


def test_the_test_hapi_listens_on_loopback_only(hapi):
    addresses = listening_addresses(hapi.port)
    assert addresses, f"nothing listens on HAPI's port {hapi.port}"
    assert all(is_loopback(address) for address in addresses), addresses


def test_the_shared_configuration_binds_loopback_unless_told_otherwise():
    server = hapi_config()["server"]
    assert server["address"] == "${SERVER_ADDRESS:127.0.0.1}"


def test_the_proc_reader_sees_a_wildcard_listener():
    """The check above can fail: a socket bound to every interface is reported as such."""
    import socket

    with socket.socket() as wildcard:
        wildcard.bind(("0.0.0.0", 0))
        wildcard.listen()
        addresses = listening_addresses(wildcard.getsockname()[1])
    assert addresses == [ipaddress.ip_address("0.0.0.0")]
    assert not is_loopback(addresses[0])
