"""The optional monitoring pair, checked statically: Prometheus scrapes the gateway,
Grafana's dashboard parses and asks only for series the gateway exports."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from gateway import metrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "docker" / "grafana" / "tddui-gateway.json"
# The samples the Prometheus text format writes for one metric of each type.
SAMPLE_SUFFIXES = {"counter": ("_total", "_created"), "gauge": ("",),
                   "histogram": ("_bucket", "_count", "_sum", "_created"),
                   "summary": ("", "_count", "_sum", "_created")}
PROJECT_SERIES = re.compile(r"\btddui_[a-z0-9_]+\b")


def exported_families() -> dict[str, set[str]]:
    """Family name -> series names, for every metric gateway/metrics.py defines."""
    families = {}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.describe():
                families[family.name] = {family.name + suffix for suffix in SAMPLE_SUFFIXES[family.type]}
    return families


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text())


@pytest.fixture(scope="module")
def queries(dashboard) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "compose.yaml").read_text())


def test_the_readme_lists_what_the_gateway_exports():
    readme = (ROOT / "README.md").read_text()
    listed = set(re.findall(r"`(tddui_[a-z0-9_]+)(?:\{\w+\})?`", readme))
    exported = exported_families()
    known = set(exported).union(*exported.values())
    assert listed and listed <= known, sorted(listed - known)
    assert all(series & listed or family in listed for family, series in exported.items())


def test_every_panel_has_a_query(dashboard, queries):
    assert dashboard["uid"] and dashboard["panels"]
    for panel in dashboard["panels"]:
        assert [target["expr"] for target in panel["targets"] if target["expr"].strip()], panel["title"]


def test_every_query_names_only_exported_series(queries):
    exported = set().union(*exported_families().values())
    for query in queries:
        named = set(PROJECT_SERIES.findall(query))
        assert named, f"no gateway series in {query!r}"
        assert named <= exported, f"{query!r} names {sorted(named - exported)}"


def test_every_exported_family_is_on_the_dashboard(queries):
    named = {series for query in queries for series in PROJECT_SERIES.findall(query)}
    missing = [family for family, series in exported_families().items() if not series & named]
    assert not missing


def test_every_label_a_query_uses_is_one_the_metric_has(queries):
    labels = {family: set(value._labelnames) for value in vars(metrics).values()
              if isinstance(value, MetricWrapperBase) for family in [value.describe()[0].name]}
    for query in queries:
        for series, selector in re.findall(r"(tddui_[a-z0-9_]+)\{([^}]*)\}", query):
            family = next(name for name in labels if series.startswith(name))
            used = set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selector))
            assert used <= labels[family], (query, used - labels[family])
        for grouping in re.findall(r"by \(([^)]*)\)", query):
            used = {label.strip() for label in grouping.split(",")} - {"le"}
            families = [name for name in labels if name in query]
            assert all(used <= labels[name] for name in families), (query, used)


def test_panels_use_the_provisioned_prometheus_datasource(dashboard):
    provisioned = yaml.safe_load((ROOT / "docker" / "grafana" / "provisioning" / "datasources.yaml").read_text())
    uids = {source["uid"] for source in provisioned["datasources"] if source["type"] == "prometheus"}
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] in uids
        assert all(target["datasource"]["uid"] in uids for target in panel["targets"])


def test_prometheus_scrapes_both_gateways_it_shares_a_network_with(compose):
    services = compose["services"]
    scrape = yaml.safe_load((ROOT / "docker" / "prometheus.yml").read_text())["scrape_configs"]
    targets = [target for job in scrape if job["metrics_path"] == "/metrics"
               for config in job["static_configs"] for target in config["targets"]]
    gateways = [name for name in services if name.startswith("gateway-")]
    assert len(gateways) == 2
    assert sorted(targets) == sorted(f"{name}:{services[name]['environment']['GATEWAY_PORT']}" for name in gateways)
    for name in gateways:
        assert set(services["prometheus"]["networks"]) & set(services[name]["networks"])
    assert "./docker/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in services["prometheus"]["volumes"]


def test_grafana_mounts_the_files_that_exist_and_is_published_on_loopback_only(compose):
    grafana = compose["services"]["grafana"]
    for volume in grafana["volumes"]:
        source = volume.split(":")[0]
        if source.startswith("./"):
            assert (ROOT / source).is_file(), source
    assert "./docker/grafana/tddui-gateway.json:/var/lib/grafana/dashboards/tddui-gateway.json:ro" \
        in grafana["volumes"]
    assert grafana["ports"] and all(port.startswith("127.0.0.1:") for port in grafana["ports"])
    assert "ports" not in compose["services"]["prometheus"]
