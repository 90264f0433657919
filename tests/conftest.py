"""Shared fixtures: one real HAPI server per session, the gateway in front of it."""
from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from gateway.app import create_app
from gateway.config import Settings
from gateway.packages import PackageSet
from tests.hapi_server import HapiServer

IG_EXAMPLE_BUNDLE = "Bundle-ExampleTDDUIBundle"


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.from_env()


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
    return gateway_app.test_client()


@pytest.fixture()
def ig_example_bundle(packages, settings) -> dict:
    """A fresh copy of the IG's example bundle, as published."""
    return copy.deepcopy(packages.package(settings.implementation_guide).examples[IG_EXAMPLE_BUNDLE])
