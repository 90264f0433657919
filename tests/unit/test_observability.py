"""Metrics and structured logs, seen from outside."""
from __future__ import annotations

import json
import logging
from dataclasses import replace

import pytest

from gateway.app import create_app
from tests.conftest import TEST_API_KEY
from gateway.logs import JsonFormatter, RequestIdFilter


@pytest.fixture(scope="module")
def client(settings):
    client = create_app(replace(settings, hapi_base_url="http://127.0.0.1:9/fhir")).test_client()
    client.environ_base["HTTP_X_API_KEY"] = TEST_API_KEY
    return client


def metric_value(text: str, line_start: str) -> float:
    values = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start)]
    return sum(values)


def test_refusals_are_counted_by_status_and_rule(client):
    before = client.get("/metrics").get_data(as_text=True)
    client.post("/", data=b"{oops", content_type="application/fhir+json")
    after = client.get("/metrics").get_data(as_text=True)
    status_400 = 'tddui_submissions_total{status="400"}'
    json_rule = 'tddui_refusals_total{rule="gateway-json"}'
    assert metric_value(after, status_400) == metric_value(before, status_400) + 1
    assert metric_value(after, json_rule) == metric_value(before, json_rule) + 1


def test_metrics_need_no_credentials_and_use_the_prometheus_format(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    assert "# TYPE tddui_verdict_seconds histogram" in response.get_data(as_text=True)


def test_a_log_line_is_one_json_object_with_the_request_id(client, caplog):
    formatter, stamp = JsonFormatter(), RequestIdFilter()
    caplog.set_level("INFO", logger="tddui.audit")
    client.post("/", data=b"{oops", content_type="application/fhir+json", headers={"X-Request-ID": "abc-123"})
    record = next(r for r in caplog.records if r.name == "tddui.audit")
    line = json.loads(formatter.format(record))
    assert line["request_id"] == "abc-123" and line["status"] == 400 and line["event"] == "submission"
    outside = logging.LogRecord("x", logging.INFO, __file__, 1, "no request here", None, None)
    stamp.filter(outside)
    assert json.loads(formatter.format(outside))["request_id"] is None
