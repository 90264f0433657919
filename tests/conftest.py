"""Shared fixtures: one real HAPI server per session, the gateway in front of it."""
from __future__ import annotations

import copy
import itertools
import json
from dataclasses import replace

import pytest

from gateway.app import create_app
from gateway.auth import FINESS_SYSTEM, hash_api_key
from gateway.config import Settings
from gateway.packages import PackageSet
from tests.hapi_server import HapiServer

IG_EXAMPLE_BUNDLE = "Bundle-ExampleTDDUIBundle"
TEST_API_KEY = "test-producer-key-for-the-ig-example-organisation"
IG_EXAMPLE_FINESS = "480787529"  # the IG example Organization: idNatSt 1480787529
# Further facilities of the test producer, one per fresh bundle, so that no
# test sees resources another test created (idempotent creates would match them).
FRESH_FINESS = [f"9700{number:05d}" for number in range(500)]
_fresh_numbers = itertools.count()


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The environment's settings, with one test producer allowed the IG example's FINESS."""
    producers = {"producers": [{"id": "test-dui", "api_key_sha256": [hash_api_key(TEST_API_KEY)],
                                "finess": [IG_EXAMPLE_FINESS, *FRESH_FINESS]}]}
    return replace(Settings.from_env(), auth_required=True, producers_json=json.dumps(producers))


@pytest.fixture(scope="session")
def packages(settings) -> PackageSet:
    return PackageSet.from_directory(settings.package_dir, [settings.implementation_guide])


@pytest.fixture(scope="session")
def hapi(tmp_path_factory) -> HapiServer:
    server = HapiServer(tmp_path_factory.mktemp("hapi"))
    server.start()
    print(f"\nHAPI ready in {server.last_start_seconds:.1f} s at {server.base_url}")
    yield server
    server.stop()


@pytest.fixture()
def running_hapi(hapi) -> HapiServer:
    """The session's HAPI, started again if an earlier test left it stopped."""
    if not hapi.running():
        hapi.start()
    return hapi


@pytest.fixture(scope="session")
def gateway_app(settings, hapi):
    return create_app(replace(settings, hapi_base_url=hapi.base_url))


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
