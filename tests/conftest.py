"""Shared fixtures: real HAPI servers started once per session, the gateway in front.

HAPI runs on its embedded H2 database; modules marked with
``@pytest.mark.parametrize("backend", BACKENDS, indirect=True)`` also run on
a real PostgreSQL server (the production database path).
"""
from __future__ import annotations

import copy
import itertools
import json
import os
from dataclasses import replace

import pytest

from gateway.app import create_app
from gateway.auth import hash_api_key
from gateway.config import Settings
from gateway.packages import PackageSet
from tests.cases import SUITE_RELEASE
from tests.hapi_server import HapiServer
from tests.postgres_server import PostgresServer, require_postgres

# The suite tests the release it was built around, whatever the product's default: every
# Settings.from_env() and every subprocess (HAPI's Spring profile, gunicorn, the CLI) reads it.
os.environ["TDDUI_IG"] = SUITE_RELEASE

IG_EXAMPLE_BUNDLE = "Bundle-ExampleTDDUIBundle"
TEST_API_KEY = "test-producer-key-for-the-ig-example-organisation"
FINESS_SYSTEM = "https://finess.esante.gouv.fr"  # FR Core Organization.identifier:finess
ID_NAT_ST_SYSTEM = "urn:oid:1.2.250.1.71.4.2.2"
IG_EXAMPLE_FINESS = "480787529"  # the IG example Organization: idNatSt 1480787529
# Further facilities of the test producer, one per fresh bundle, so that no
# test sees resources another test created (idempotent creates would match them).
FRESH_FINESS = [f"9700{number:05d}" for number in range(500)]
_fresh_numbers = itertools.count()
BACKENDS = ["h2", "postgresql"]


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The environment's settings, with one test producer allowed the IG example's FINESS."""
    producers = {"producers": [{"id": "test-dui", "api_key_sha256": [hash_api_key(TEST_API_KEY)],
                                "finess": [IG_EXAMPLE_FINESS, *FRESH_FINESS]}]}
    return replace(Settings.from_env(), auth_required=True, producers_json=json.dumps(producers))


@pytest.fixture(scope="session")
def packages(settings) -> PackageSet:
    return PackageSet.from_directory(settings.package_dir, [settings.implementation_guide])


class HapiServers:
    """One HAPI per database backend and TDDUI release, started on first use, stopped at the end.

    The suite's release on H2 serves most tests; another release gets its own HAPI process
    only when a test asks for it."""

    def __init__(self, tmp_path_factory):
        self.tmp_path_factory = tmp_path_factory
        self.servers: dict[tuple, HapiServer] = {}
        self.postgres: PostgresServer | None = None
        self.apps: dict[str, object] = {}

    def get(self, backend: str, release: str = SUITE_RELEASE) -> HapiServer:
        key = (backend, release)
        if key not in self.servers:
            workdir = self.tmp_path_factory.mktemp(f"hapi-{backend}")
            database = self._database(backend)
            server = HapiServer(workdir, database.get("datasource_url"),
                                extra_env={**database.get("extra_env", {}), "TDDUI_IG": release})
            server.start()
            print(f"\nHAPI ({release}) on {backend} ready in {server.last_start_seconds:.1f} s at {server.base_url}")
            self.servers[key] = server
        return self.servers[key]

    def _database(self, backend: str) -> dict:
        if backend == "h2":
            return {}
        require_postgres()
        self.postgres = PostgresServer()
        self.postgres.start()
        return self.postgres.hapi_database()

    def stop_all(self) -> None:
        for server in self.servers.values():
            server.stop()
        if self.postgres:
            self.postgres.stop()


@pytest.fixture(scope="session")
def hapi_servers(tmp_path_factory):
    servers = HapiServers(tmp_path_factory)
    yield servers
    servers.stop_all()


@pytest.fixture(scope="session")
def backend(request) -> str:
    """The database behind HAPI: H2 unless a module parametrizes it."""
    return getattr(request, "param", "h2")


@pytest.fixture(scope="session")
def hapi(hapi_servers, backend) -> HapiServer:
    return hapi_servers.get(backend)


@pytest.fixture()
def running_hapi(hapi) -> HapiServer:
    """The session's HAPI, started again if an earlier test left it stopped."""
    if not hapi.running():
        hapi.start()
    return hapi


@pytest.fixture(scope="session")
def gateway_app(settings, hapi, hapi_servers):
    """One gateway per HAPI server (the engine is compiled once for each)."""
    if hapi.base_url not in hapi_servers.apps:
        hapi_servers.apps[hapi.base_url] = create_app(replace(settings, hapi_base_url=hapi.base_url))
    return hapi_servers.apps[hapi.base_url]


@pytest.fixture()
def gateway(gateway_app, running_hapi):
    """A client of the gateway, authenticated as the test producer."""
    client = gateway_app.test_client()
    client.environ_base["HTTP_X_API_KEY"] = TEST_API_KEY
    return client


@pytest.fixture()
def ig_example_bundle(packages, settings) -> dict:
    """A fresh copy of the IG's example bundle, as published."""
    return copy.deepcopy(packages.package(settings.implementation_guide).examples[IG_EXAMPLE_BUNDLE])


def as_submitted(bundle: dict) -> dict:
    """The IG example names profiles in request.url; a FHIR server wants resource types."""
    for entry in bundle["entry"]:
        entry["request"]["url"] = entry["resource"]["resourceType"]
    return bundle


def fresh_finess() -> str:
    """A FINESS of the test producer that no other test uses."""
    return FRESH_FINESS[next(_fresh_numbers)]


def move_to_legal_entity(bundle: dict, finess: str) -> dict:
    """The bundle's Organization renamed to another legal entity of the test producer (in place)."""
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Organization":
            for identifier in resource["identifier"]:
                identifier["value"] = finess if identifier.get("system") == FINESS_SYSTEM else "1" + finess
    return bundle


def freshen(bundle: dict) -> dict:
    """Give the bundle's business identifiers values no other test uses (in place)."""
    number = next(_fresh_numbers)
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") or {}
        for identifier in resource.get("identifier") or []:
            value = identifier.get("value")
            if not isinstance(value, str):
                continue
            if resource.get("resourceType") == "Organization":
                finess = FRESH_FINESS[number]
                identifier["value"] = finess if identifier.get("system") == FINESS_SYSTEM else "1" + finess
            elif resource.get("resourceType") == "Patient":
                identifier["value"] = value[:-5] + f"{number:05d}"
            else:
                identifier["value"] = f"{value}-{number}"
    return bundle


@pytest.fixture()
def fresh_bundle(ig_example_bundle) -> dict:
    """The IG example with request.url set to types and business identifiers no other test uses."""
    return freshen(as_submitted(ig_example_bundle))
