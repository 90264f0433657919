"""The docker compose stack, checked statically (no Docker engine here) and, where
a Docker engine answers, brought up for real with testcontainers."""
from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
import urllib.parse
from pathlib import Path

import pytest
import yaml

from gateway.config import Settings
from gateway.descriptor import described_releases
from tests.cases import hapi_config
from tests.proxy_server import DEFAULTS as PROXY_DEFAULTS, template_variables

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
PINNED_TAG = re.compile(r"^[\w./-]+:v?\d+(\.\d+)+[\w.-]*$")
# Two of each, paired: gateway-a forwards to hapi-a, gateway-b to hapi-b (README, "Scaling out").
HAPI_NODES = ("hapi-a", "hapi-b")
GATEWAYS = ("gateway-a", "gateway-b")
DEFAULT_SERVICES = {"db", *HAPI_NODES, *GATEWAYS, "proxy"}


@pytest.fixture(scope="module")
def stack() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(stack) -> dict:
    return stack["services"]


def launcher_hapi_version() -> str:
    return re.search(r"<hapi\.fhir\.version>([^<]+)</hapi\.fhir\.version>",
                     (ROOT / "hapi-server" / "pom.xml").read_text()).group(1)


def test_the_stack_has_two_hapi_nodes_two_gateways_and_an_optional_monitoring_pair(services):
    by_default = {name for name, service in services.items() if not service.get("profiles")}
    assert by_default == DEFAULT_SERVICES
    assert {name for name, service in services.items() if "monitoring" in service.get("profiles", [])} \
        == {"prometheus", "grafana"}


def test_every_image_is_pinned_to_a_version(services):
    images = [service["image"] for service in services.values()]
    images += re.findall(r"^FROM\s+(\S+)", (ROOT / "docker" / "hapi.Dockerfile").read_text(), re.M)
    images += re.findall(r"^FROM\s+(\S+)", (ROOT / "docker" / "Dockerfile").read_text(), re.M)
    unpinned = [image for image in images if not PINNED_TAG.match(image) or image.endswith(":latest")]
    assert not unpinned, unpinned


def test_gateway_image_carries_the_project_version(services):
    version = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    assert {services[name]["image"] for name in GATEWAYS} == {f"tddui-gateway:{version}"}


def test_hapi_runs_the_official_image_of_the_launchers_version(services):
    official = re.search(r"^FROM\s+(hapiproject/hapi:\S+)", (ROOT / "docker" / "hapi.Dockerfile").read_text(), re.M)
    assert official and official.group(1).startswith(f"hapiproject/hapi:v{launcher_hapi_version()}-")
    for name in HAPI_NODES:
        assert services[name]["image"].endswith(f":v{launcher_hapi_version()}-1")


@pytest.mark.parametrize("node", HAPI_NODES)
def test_hapi_reads_the_shared_configuration_and_the_mounted_packages(services, node):
    hapi = services[node]
    assert "./hapi-config/application.yaml:/app/config/application.yaml:ro" in hapi["volumes"]
    assert any(isinstance(volume, str) and volume.endswith(":/app/packages:ro") for volume in hapi["volumes"])
    assert hapi["environment"]["FHIR_PACKAGE_DIR"] == "/app/packages"
    # the release's own profile document (2.4.0: its closure), from the one TDDUI_VERSION
    assert hapi["environment"]["SPRING_PROFILES_ACTIVE"] == "tddui-${TDDUI_VERSION:-2.0.0}"
    for release in described_releases():
        guides = hapi_config(release)["hapi"]["fhir"]["implementationguides"].values()
        urls = [guide["packageUrl"] for guide in guides]
        assert urls and all(url.startswith("file://${FHIR_PACKAGE_DIR") for url in urls)


@pytest.mark.parametrize("node", HAPI_NODES)
def test_hapi_loads_the_tddui_validation_plugin_the_shared_configuration_registers(services, node):
    plugin = next(v for v in services[node]["volumes"] if isinstance(v, dict))
    assert plugin["source"] == "./hapi-server/target/tddui-hapi-plugin.jar"
    assert plugin["target"].startswith("/app/extra-classes/") and plugin["bind"]["create_host_path"] is False
    fhir = hapi_config()["hapi"]["fhir"]
    assert fhir["custom-interceptor-classes"] == ["fr.tddui.hapiplugin.TolerantRequestValidatingInterceptor"]
    assert fhir["custom-bean-packages"] == "fr.tddui.hapiplugin"


def test_both_hapi_nodes_use_the_one_postgresql_with_hapis_dialect(services):
    environments = [services[node]["environment"] for node in HAPI_NODES]
    assert {environment["SPRING_DATASOURCE_URL"] for environment in environments} == {"jdbc:postgresql://db:5432/hapi?reWriteBatchedInserts=true"}
    assert {environment["SPRING_JPA_PROPERTIES_HIBERNATE_DIALECT"] for environment in environments} == \
        {"ca.uhn.fhir.jpa.model.dialect.HapiFhirPostgresDialect"}
    assert services["hapi-a"]["depends_on"]["db"]["condition"] == "service_healthy"


def test_the_second_hapi_node_starts_on_the_packages_the_first_installed(services):
    """Two nodes installing the packages into one empty database at once would race."""
    assert services["hapi-b"]["depends_on"] == {"hapi-a": {"condition": "service_healthy"}}


def test_exactly_one_hapi_node_runs_the_stale_search_cleanup(services):
    """hapi.fhir.dao_scheduling_enabled, read from HAPI_DAO_SCHEDULING_ENABLED in the shared yaml."""
    fhir = hapi_config()["hapi"]["fhir"]
    assert fhir["dao_scheduling_enabled"] == "${HAPI_DAO_SCHEDULING_ENABLED:true}"
    assert [services[node]["environment"]["HAPI_DAO_SCHEDULING_ENABLED"] for node in HAPI_NODES] == ["true", "false"]


def test_every_service_has_a_healthcheck(services):
    assert "pg_isready" in " ".join(services["db"]["healthcheck"]["test"])
    health_port = services["proxy"]["environment"]["PROXY_HEALTH_PORT"]
    assert f"http://127.0.0.1:{health_port}/proxy-health" in services["proxy"]["healthcheck"]["test"]
    assert all("HapiReady" in services[node]["healthcheck"]["test"] for node in HAPI_NODES)
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert re.search(r"^HEALTHCHECK .*\n?.*/readyz", dockerfile, re.M)
    assert "http://127.0.0.1:9090/-/ready" in services["prometheus"]["healthcheck"]["test"]
    assert "http://127.0.0.1:3000/api/health" in services["grafana"]["healthcheck"]["test"]
    # the gateways' healthcheck is their image's (docker/Dockerfile, checked above)
    without = [name for name, service in services.items() if "healthcheck" not in service and name not in GATEWAYS]
    assert not without, f"services without a healthcheck: {without}"


def test_monitoring_services_start_once_what_they_read_is_healthy(services):
    assert all(services["prometheus"]["depends_on"][name]["condition"] == "service_healthy" for name in GATEWAYS)
    assert services["grafana"]["depends_on"]["prometheus"]["condition"] == "service_healthy"


def test_the_database_keeps_its_data_in_a_named_volume(stack, services):
    volume = services["db"]["volumes"][0].split(":")[0]
    assert volume in stack["volumes"]


def test_producers_reach_only_the_proxy(stack, services):
    assert stack["networks"]["backend"]["internal"] is True
    for name in GATEWAYS:
        assert set(services[name]["networks"]) == {"frontend", "backend"}
        assert "ports" not in services[name]
    assert set(services["proxy"]["networks"]) == {"frontend"}
    for name in (*HAPI_NODES, "db"):
        assert "frontend" not in services[name]["networks"]
    assert "ports" not in services["db"]
    assert [port.split(":")[-1] for port in services["proxy"]["ports"]] == \
        [services["proxy"]["environment"]["PROXY_PORT"]]
    for published in (port for node in HAPI_NODES for port in services[node].get("ports", [])):
        assert published.startswith("127.0.0.1:"), published


def test_hapi_listens_beyond_loopback_only_inside_the_stack(services):
    """The shared yaml binds loopback (local runs); compose opens it to its internal network."""
    assert all(services[node]["environment"]["SERVER_ADDRESS"] == "0.0.0.0" for node in HAPI_NODES)
    assert hapi_config()["server"]["address"] == "${SERVER_ADDRESS:127.0.0.1}"


def test_the_gateway_believes_certificate_subjects_from_the_proxy_only(stack, services):
    subnet = ipaddress.ip_network(stack["networks"]["frontend"]["ipam"]["config"][0]["subnet"])
    proxy_address = ipaddress.ip_address(services["proxy"]["networks"]["frontend"]["ipv4_address"])
    assert proxy_address in subnet
    for name in GATEWAYS:
        trusted = [ipaddress.ip_network(net) for net in
                   services[name]["environment"]["GATEWAY_TRUSTED_PROXIES"].split(",")]
        assert trusted == [ipaddress.ip_network(f"{proxy_address}/32")]


def test_the_proxy_renders_the_one_template_with_every_variable_set(services):
    proxy = services["proxy"]
    assert "./docker/proxy.conf.template:/etc/nginx/templates/default.conf.template:ro" in proxy["volumes"]
    assert proxy["image"].startswith("nginx:")
    template = (ROOT / "docker" / "proxy.conf.template").read_text()
    assert template_variables(template) == set(proxy["environment"])
    assert proxy["environment"]["PROXY_SSL_VERIFY_CLIENT"] == "${PROXY_SSL_VERIFY_CLIENT:-on}"
    assert {f"gateway:{services[name]['environment']['GATEWAY_PORT']}" for name in GATEWAYS} == \
        {proxy["environment"]["GATEWAY_UPSTREAM"]}


def test_the_proxy_and_the_gateway_share_the_body_limit_and_the_certificate_header(services):
    proxy = services["proxy"]["environment"]
    for name in ("GATEWAY_MAX_BODY_BYTES", "GATEWAY_CLIENT_CERT_HEADER"):
        assert {services[gateway]["environment"][name] for gateway in GATEWAYS} == {proxy[name]}
    defaults = Settings()
    assert PROXY_DEFAULTS["GATEWAY_MAX_BODY_BYTES"] == str(defaults.max_body_bytes)
    assert PROXY_DEFAULTS["GATEWAY_CLIENT_CERT_HEADER"] == defaults.certificate_header


def test_the_tests_proxy_runs_with_composes_defaults(services):
    """tests/proxy_server.py renders the template with the values compose gives it by default."""
    proxy = services["proxy"]["environment"]
    for name, value in PROXY_DEFAULTS.items():
        assert proxy[name] == f"${{{name}:-{value}}}", name


def test_the_proxy_template_keeps_its_protections():
    """The directives docs/security.md relies on, in the one file compose and the tests share."""
    template = (ROOT / "docker" / "proxy.conf.template").read_text()
    for directive in ("ssl_protocols TLSv1.3;", "server_tokens off;", "proxy_request_buffering on;",
                      "client_max_body_size ${GATEWAY_MAX_BODY_BYTES};", "proxy_intercept_errors off;",
                      "proxy_set_header ${GATEWAY_CLIENT_CERT_HEADER} $tddui_client_dn;",
                      "ssl_verify_client ${PROXY_SSL_VERIFY_CLIENT};", "proxy_next_upstream off;"):
        assert directive in template, directive


@pytest.mark.parametrize(("gateway", "node"), list(zip(GATEWAYS, HAPI_NODES)))
def test_each_gateway_waits_for_its_own_healthy_hapi_node_it_names_by_service(services, gateway, node):
    assert services[gateway]["depends_on"] == {node: {"condition": "service_healthy"}}
    assert urllib.parse.urlsplit(services[gateway]["environment"]["HAPI_BASE_URL"]).hostname == node


def test_the_proxy_balances_over_both_gateways_through_their_shared_alias(services):
    """nginx resolves the upstream's name at start-up; a name with two addresses is two servers."""
    upstream_host = services["proxy"]["environment"]["GATEWAY_UPSTREAM"].split(":")[0]
    for name in GATEWAYS:
        assert upstream_host in services[name]["networks"]["frontend"]["aliases"]
        assert services["proxy"]["depends_on"][name]["condition"] == "service_healthy"


def test_gateway_image_is_slim_non_root_and_runs_gunicorn():
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert re.search(r"^FROM python:[\d.]+-slim", dockerfile, re.M)
    user = re.findall(r"^USER\s+(\S+)", dockerfile, re.M)
    assert user and user[-1] not in ("root", "0")
    assert '"gunicorn"' in dockerfile and "gateway.gunicorn_conf" in dockerfile


def test_docker_compose_config_accepts_the_file():
    """Docker's own parser, when this machine's Docker CLI has the compose plugin."""
    docker = shutil.which("docker")
    if not docker or subprocess.run([docker, "compose", "version"], capture_output=True).returncode != 0:
        pytest.skip("the Docker CLI here has no compose plugin; the static checks above still ran")
    result = subprocess.run([docker, "compose", "-f", str(COMPOSE), "--env-file",
                             str(ROOT / "docker" / "tddui.env.example"), "config", "--format", "json"],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)["services"]) == DEFAULT_SERVICES


def test_the_gateways_and_hapis_serve_one_release_from_one_variable(services):
    """compose's TDDUI_VERSION is each gateway's TDDUI_IG and each HAPI node's TDDUI_VERSION, by default the gateway's default."""
    default = Settings().implementation_guide
    name, _, version = default.partition("#")
    assert {services[gateway]["environment"]["TDDUI_IG"] for gateway in GATEWAYS} == \
        {f"{name}#${{TDDUI_VERSION:-{version}}}"}
    assert {services[node]["environment"]["TDDUI_VERSION"] for node in HAPI_NODES} == \
        {f"${{TDDUI_VERSION:-{version}}}"}
    assert f"TDDUI_VERSION={version}\n" in (ROOT / "docker" / "tddui.env.example").read_text()
