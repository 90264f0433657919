"""Two nodes when one is not enough: two gateways under gunicorn, each in front of its own HAPI
node, both HAPI nodes on ONE PostgreSQL (README, "Scaling out").

The servers are this module's own, started once and stopped at the end, on a database no other
test writes to: every change counted in PostgreSQL is this module's own.
"""
from __future__ import annotations

import copy
import json
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from gateway.auth import hash_api_key
from tests.conftest import FRESH_FINESS, IG_EXAMPLE_FINESS, TEST_API_KEY, as_submitted, freshen
from tests.gateway_server import GUNICORN, GatewayServer
from tests.hapi_server import HapiServer
from tests.integration.test_receipt import next_export, resource_of
from tests.postgres_server import PostgresServer, require_postgres

STORED_TYPES = ("Patient", "Organization", "Encounter", "Provenance")
PRODUCERS = [{"id": "test-dui", "api_key_sha256": [hash_api_key(TEST_API_KEY)],
              "finess": [IG_EXAMPLE_FINESS, *FRESH_FINESS]}]
GUNICORNC = GUNICORN.with_name("gunicornc")


@dataclass
class Node:
    """One gateway and the HAPI node it forwards to."""
    name: str
    hapi: HapiServer
    gateway: GatewayServer


@dataclass
class Cluster:
    postgres: PostgresServer
    nodes: list[Node]
    home: Path   # the one home directory both gunicorn instances run with, as on one host

    def stored(self) -> dict[str, int]:
        """Live resources per type, counted in PostgreSQL itself."""
        types = ", ".join(f"'{kind}'" for kind in STORED_TYPES)
        rows = self.postgres.query(f"SELECT res_type, count(*) FROM hfj_resource WHERE res_deleted_at IS NULL "
                                   f"AND res_type IN ({types}) GROUP BY res_type")
        return {kind: 0 for kind in STORED_TYPES} | {kind: int(count) for kind, count in rows}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[Cluster]:
    require_postgres()
    postgres = PostgresServer()
    home = tmp_path_factory.mktemp("one-host-home")
    started: list = [postgres]
    try:
        postgres.start()
        nodes = []
        # One after the other: the first node installs the packages, the next finds them installed.
        for name, scheduling, control_socket in (("a", "true", home / "gateway-a.ctl"), ("b", "false", None)):
            hapi = HapiServer(tmp_path_factory.mktemp(f"hapi-{name}"), **hapi_node_database(postgres, scheduling))
            started.append(hapi)
            hapi.start()
            gateway_env = {"HOME": str(home), "XDG_RUNTIME_DIR": ""}
            if control_socket:
                gateway_env["GATEWAY_CONTROL_SOCKET"] = str(control_socket)
            gateway = GatewayServer(tmp_path_factory.mktemp(f"gateway-{name}"), hapi.base_url, PRODUCERS,
                                    workers=2, extra_env=gateway_env)
            started.append(gateway)
            gateway.start()
            nodes.append(Node(name, hapi, gateway))
        yield Cluster(postgres, nodes, home)
    finally:
        for server in reversed(started):
            server.stop()


def hapi_node_database(postgres: PostgresServer, dao_scheduling: str) -> dict:
    """``HapiServer`` arguments for one node of the shared database, 1 GB heap each."""
    database = postgres.hapi_database()
    database["extra_env"] |= {"HAPI_DAO_SCHEDULING_ENABLED": dao_scheduling, "HAPI_JAVA_OPTS": "-Xmx1g"}
    return database


@pytest.fixture()
def new_bundle(ig_example_bundle):
    """A maker of IG-example bundles for patients, stays and facilities no test has used."""
    return lambda: freshen(as_submitted(copy.deepcopy(ig_example_bundle)))


def submit(node: Node, bundle: dict) -> requests.Response:
    return requests.post(node.gateway.url, data=json.dumps(bundle), timeout=300,
                         headers={"Content-Type": "application/fhir+json", "X-API-Key": TEST_API_KEY})


def submit_at_once(sends: list[tuple[Node, dict]]) -> list[int]:
    """Every (node, bundle) sent in its own thread, all released together; the statuses in order."""
    start = threading.Barrier(len(sends))
    statuses: list[int | None] = [None] * len(sends)

    def producer(index: int, node: Node, bundle: dict) -> None:
        start.wait()
        statuses[index] = submit(node, bundle).status_code

    threads = [threading.Thread(target=producer, args=(index, *send)) for index, send in enumerate(sends)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    return statuses


def search(node: Node, kind: str, resource: dict) -> list[dict]:
    """``kind`` resources carrying ``resource``'s first identifier, asked of this node's HAPI."""
    identifier = resource["identifier"][0]
    answer = requests.get(f"{node.hapi.base_url}/{kind}", timeout=60, headers={"Cache-Control": "no-cache"},
                          params={"identifier": f"{identifier['system']}|{identifier['value']}"})
    answer.raise_for_status()
    return [entry["resource"] for entry in answer.json().get("entry") or []]


def test_concurrent_producers_over_both_gateways_lose_nothing_and_duplicate_nothing(cluster, new_bundle):
    before = cluster.stored()
    bundles = [new_bundle() for _ in range(6)]

    statuses = submit_at_once([(cluster.nodes[index % 2], bundle) for index, bundle in enumerate(bundles)])

    assert statuses == [201] * len(bundles)
    grown = {kind: cluster.stored()[kind] - before[kind] for kind in STORED_TYPES}
    assert grown == {kind: len(bundles) for kind in STORED_TYPES}
    for bundle in bundles:
        for kind in ("Patient", "Organization", "Encounter"):
            assert [len(search(node, kind, resource_of(bundle, kind))) for node in cluster.nodes] == [1, 1]


def test_twins_sent_to_both_nodes_at_once_are_stored_once(cluster, new_bundle):
    before = cluster.stored()
    twin = new_bundle()

    statuses = submit_at_once([(node, twin) for node in cluster.nodes for _ in range(3)])

    assert set(statuses) <= {200, 201} and 201 in statuses, statuses
    grown = {kind: cluster.stored()[kind] - before[kind] for kind in STORED_TYPES}
    # One record per identifier, and one Provenance: the twins are one submission, audited once.
    assert grown == {kind: 1 for kind in STORED_TYPES}
    for kind in ("Patient", "Organization", "Encounter"):
        found = [search(node, kind, resource_of(twin, kind)) for node in cluster.nodes]
        assert len(found[0]) == 1 and found[0] == found[1]


def test_changed_twins_sent_to_both_nodes_at_once_end_as_one_of_them(cluster, new_bundle):
    first = new_bundle()
    assert submit(cluster.nodes[0], first).status_code == 201
    before = cluster.stored()
    versions = [next_export(first, f"06000000{n:02d}", f"2023-05-{n + 10:02d}") for n in range(4)]

    statuses = submit_at_once([(cluster.nodes[n % 2], version) for n, version in enumerate(versions)])

    assert statuses == [200] * len(versions)
    grown = {kind: cluster.stored()[kind] - before[kind] for kind in STORED_TYPES}
    assert grown == {"Patient": 0, "Organization": 0, "Encounter": 0, "Provenance": len(versions)}
    patients = [search(node, "Patient", resource_of(first, "Patient")) for node in cluster.nodes]
    stays = [search(node, "Encounter", resource_of(first, "Encounter")) for node in cluster.nodes]
    assert patients[0] == patients[1] and stays[0] == stays[1] and len(patients[0]) == len(stays[0]) == 1
    final = (patients[0][0]["telecom"][0]["value"], stays[0][0]["period"]["end"])
    assert final in [(resource_of(version, "Patient")["telecom"][0]["value"],
                      resource_of(version, "Encounter")["period"]["end"]) for version in versions]


def test_what_one_node_stored_is_read_on_the_other(cluster, new_bundle):
    writer, reader = cluster.nodes
    answer = submit(writer, new_bundle())
    assert answer.status_code == 201
    written = {entry["resource"]["resourceType"]: entry["resource"] for entry in answer.json()["entry"]}

    for kind, resource in written.items():
        path = f"{kind}/{resource['id']}"
        read = requests.get(reader.gateway.url + path, headers={"X-API-Key": TEST_API_KEY}, timeout=60)
        version = resource["meta"]["versionId"]
        vread = requests.get(f"{reader.gateway.url}{path}/_history/{version}", headers={"X-API-Key": TEST_API_KEY},
                             timeout=60)
        assert read.status_code == vread.status_code == 200, (path, read.text)
        assert read.headers["ETag"] == f'W/"{version}"'
        assert read.json() == vread.json()
        assert read.json()["identifier"] == resource["identifier"]


def test_only_the_first_hapi_node_runs_the_stale_search_cleanup(cluster):
    logs = {node.name: node.hapi.log_path.read_text(errors="replace") for node in cluster.nodes}
    assert "Server configured to enable DAO scheduling" in logs["a"]
    assert "Server configured to disable DAO scheduling" in logs["b"]


def test_two_gunicorn_instances_on_one_host_do_not_share_a_control_socket(cluster):
    """Gateway a was given its own control socket, gateway b none; both run with the same home."""
    gateway_a, gateway_b = (node.gateway for node in cluster.nodes)
    shown = subprocess.run([str(GUNICORNC), "-s", str(cluster.home / "gateway-a.ctl"), "-c", "show config", "-j"],
                           capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(shown.stdout)["bind"] == [f"127.0.0.1:{gateway_a.port}"]
    assert not (cluster.home / ".gunicorn").exists()   # gunicorn's shared default, taken by no one
    assert not any("Control socket listening" in line for line in gateway_b.log_lines())
