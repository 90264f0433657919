"""AuditEvents of submissions: built from plain values, written to and read back from the real HAPI."""
from __future__ import annotations

import json
import logging
import re
import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

from gateway import audit_event, cli
from gateway.outcome import single
from tests.admin.conftest import SETUP_TIMEOUT
from tests.hapi_server import free_port

INS = "1800599123456"
FAMILY_NAME = "Dupontel"


def refusal_issues():
    """Issues whose messages quote bundle values, as the engine's do."""
    return [
        single("error", "value", f"L'INS '{INS}' ne respecte pas le motif.", f"INS '{INS}' does not match.",
               rule="tddui-ins-format", expression="Bundle.entry[1].resource.identifier[0].value"),
        single("error", "code-invalid", f'Le nom "{FAMILY_NAME}" est refusé.', f'Name "{FAMILY_NAME}" refused.',
               rule="BR-NAME", expression="Bundle.entry[1].resource.name[0].family"),
        single("warning", "informational", "Avertissement.", "Warning.", rule="just-a-warning"),
    ]


def refusal(producer: str, **overrides) -> dict:
    values = dict(producer_id=producer, legal_entity={"system": "urn:oid:1.2.250.1.71.4.2.2", "value": "1480787529"}, status=422, request_id="req-audit-1",
                  submission="ab" * 32, entries=5, issues=refusal_issues())
    values.update(overrides)
    return audit_event.build(**values)


@pytest.mark.parametrize("status, outcome", [(200, "0"), (201, "0"), (400, "4"), (401, "4"), (403, "4"),
                                             (422, "4"), (502, "8"), (503, "8"), (504, "8"), (500, "12")])
def test_outcome_follows_the_http_status_class(status, outcome):
    assert audit_event.build(producer_id="p", legal_entity=None, status=status, request_id="r",
                             submission=None, entries=None, issues=[])["outcome"] == outcome


def test_an_audit_event_carries_no_patient_data():
    text = json.dumps(refusal("dui-a"), ensure_ascii=False)
    assert INS not in text and FAMILY_NAME not in text
    assert "tddui-ins-format" in text and "Bundle.entry[1].resource.identifier[0].value" in text


def test_an_audit_event_names_producer_legal_entity_request_and_digest():
    event = refusal("dui-a")
    assert {agent.get("name") for agent in event["agent"] if agent["requestor"]} == {"dui-a"}
    row = audit_event.Submission.from_resource({**event, "id": "x"})
    assert (row.producer, row.legal_entity, row.status, row.entries, row.issue_count) == \
        ("dui-a", "1480787529", 422, 5, 3)
    assert (row.request_id, row.submission) == ("req-audit-1", "ab" * 32)
    # only the blocking issues are listed, each with its rule, element and blanked message
    assert [(issue.rule, issue.message) for issue in row.issues] == [
        ("tddui-ins-format", "L'INS '…' ne respecte pas le motif."), ("BR-NAME", "Le nom '…' est refusé.")]


def test_hapi_stores_a_refusal_written_on_its_own(running_hapi, producer):
    stored_id = audit_event.write_refusal(running_hapi.base_url, refusal(producer), timeout=SETUP_TIMEOUT)
    assert stored_id
    row = audit_event.read(running_hapi.base_url, stored_id)
    assert row and row.producer == producer and row.status == 422
    assert [row.id for row in audit_event.search(running_hapi.base_url, producer=producer)] == [stored_id]


def test_a_refusal_with_hapi_down_is_logged_and_never_raises(caplog):
    down = f"http://127.0.0.1:{free_port()}/fhir"
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="tddui.audit"):
        assert audit_event.write_refusal(down, refusal("dui-b")) is None
    assert time.monotonic() - started < 10
    assert any(record.fields["event"] == "audit-event-failed" for record in caplog.records)


def test_a_hapi_that_refuses_the_event_is_logged_and_never_raises(running_hapi, caplog):
    broken = {**refusal("dui-c"), "recorded": "yesterday"}
    with caplog.at_level(logging.ERROR, logger="tddui.audit"):
        assert audit_event.write_refusal(running_hapi.base_url, broken, timeout=SETUP_TIMEOUT) is None
    assert any(record.fields.get("hapi_status", 0) >= 400 for record in caplog.records)


def test_purge_deletes_only_what_is_past_the_retention(running_hapi, producer):
    old = datetime.now(timezone.utc) - timedelta(days=200)
    old_id = audit_event.write_refusal(running_hapi.base_url, refusal(
        producer, recorded=old.isoformat(timespec="seconds").replace("+00:00", "Z")), timeout=SETUP_TIMEOUT)
    recent_id = audit_event.write_refusal(running_hapi.base_url, refusal(producer), timeout=SETUP_TIMEOUT)
    assert old_id and recent_id
    assert audit_event.purge(running_hapi.base_url, retention_days=183) >= 1
    assert audit_event.read(running_hapi.base_url, old_id) is None
    assert audit_event.read(running_hapi.base_url, recent_id) is not None
    remaining = requests.get(f"{running_hapi.base_url}/AuditEvent", params={"agent-name": producer},
                             headers={"Cache-Control": "no-cache"}, timeout=30).json()
    assert [entry["resource"]["id"] for entry in remaining.get("entry", [])] == [recent_id]


def test_the_purge_command_reports_what_it_deleted_and_fails_cleanly_without_hapi(
        running_hapi, producer, monkeypatch, capsys):
    old = (datetime.now(timezone.utc) - timedelta(days=400)).isoformat(timespec="seconds").replace("+00:00", "Z")
    assert audit_event.write_refusal(running_hapi.base_url, refusal(producer, recorded=old), timeout=SETUP_TIMEOUT)
    monkeypatch.setenv("HAPI_BASE_URL", running_hapi.base_url)
    assert cli.main(["purge-audit", "--days", "300"]) == 0
    assert re.match(r"[1-9]\d* AuditEvent\(s\) older than 300 days deleted", capsys.readouterr().out)
    monkeypatch.setenv("HAPI_BASE_URL", f"http://127.0.0.1:{free_port()}/fhir")
    assert cli.main(["purge-audit"]) == 2
    assert "cannot purge" in capsys.readouterr().err
