"""What operators see, in a real browser: HAPI's web UI shows what the gateway stored, and the
admin page shows the submissions from their AuditEvents."""
from __future__ import annotations

import copy
import hashlib
import re
import uuid
from dataclasses import replace

import pytest
from flask import Flask

from gateway import audit_event
from gateway.admin import admin_blueprint
from gateway.outcome import Issue, Message
from tests.admin.conftest import ADMIN_PASSWORD, SETUP_TIMEOUT, basic_auth
from tests.browser.conftest import LiveServer

INS_SYSTEM = "urn:oid:1.2.250.1.213.1.4.8"
FHIR_JSON = "application/fhir+json"


def created(answer, resource_type: str) -> str:
    """The id HAPI gave the bundle's resource of that type."""
    locations = [entry["response"]["location"] for entry in answer.get_json()["entry"]]
    return next(location.split("/")[1] for location in locations if location.startswith(f"{resource_type}/"))


def ins_of(bundle: dict) -> str:
    patient = next(entry["resource"] for entry in bundle["entry"] if entry["resource"]["resourceType"] == "Patient")
    return next(identifier["value"] for identifier in patient["identifier"] if identifier["system"] == INS_SYSTEM)


def visible_text(page) -> str:
    return re.sub(r"\s+", " ", page.locator("body").inner_text())


def test_hapi_ui_finds_the_patient_by_ins_and_shows_the_encounter_subject(
        gateway, fresh_bundle, running_hapi, page, screenshot_dir):
    answer = gateway.post("/", json=fresh_bundle, content_type=FHIR_JSON)
    assert answer.status_code == 201, answer.get_data(as_text=True)
    patient_id, encounter_id, ins = created(answer, "Patient"), created(answer, "Encounter"), ins_of(fresh_bundle)
    ui = running_hapi.base_url.removesuffix("/fhir") + "/"

    page.goto(ui)
    assert "TDDUI HAPI" in visible_text(page)
    page.get_by_role("link", name="Patient", exact=True).click()
    page.wait_for_url("**resource=Patient**")
    parameter = page.locator("#search-param-row-0 select").first
    parameter.select_option(parameter.locator("option", has_text="identifier").first.get_attribute("value"),
                            force=True)  # select2 hides the native select
    page.locator("#param\\.0\\.0").fill(INS_SYSTEM)
    page.locator("#param\\.0\\.1").fill(ins)
    page.locator("#search-btn").click()
    page.wait_for_url("**/search?**")
    found = page.locator("#resultControlsTable")
    found.get_by_text(f"Patient/{patient_id}/_history/1").wait_for()
    assert "Bundle contains 1 / 1 entries" in visible_text(page)
    page.screenshot(path=str(screenshot_dir / "hapi-ui.png"))

    page.get_by_role("link", name="Encounter", exact=True).click()
    page.wait_for_url("**resource=Encounter**")
    page.get_by_text("CRUD Operations").click()
    page.locator("#read-id").fill(encounter_id)
    page.locator("#read-btn").click()
    page.wait_for_url("**/read?**")
    text = visible_text(page)
    assert "HTTP 200" in text
    assert re.search(r'"subject": \{ "reference": "Patient/' + patient_id + '"', text), text[-2000:]


@pytest.fixture()
def admin_server(settings, running_hapi):
    app = Flask("admin-live")
    digest = hashlib.sha256(ADMIN_PASSWORD.encode()).hexdigest()
    app.register_blueprint(admin_blueprint(replace(settings, hapi_base_url=running_hapi.base_url,
                                                   admin_key_sha256=(digest,))))
    with LiveServer(app) as server:
        yield server


def as_issues(outcome: dict) -> list[Issue]:
    """A gateway refusal's OperationOutcome back into issues, as the pipeline holds them."""
    return [Issue(item["severity"], item["code"], Message(item["diagnostics"], item["diagnostics"]),
                  (item.get("expression") or [None])[0],
                  (item.get("details", {}).get("coding") or [{}])[0].get("code"))
            for item in outcome["issue"]]


def test_admin_page_lists_a_refusal_and_shows_its_rules(
        gateway, fresh_bundle, running_hapi, admin_server, page, screenshot_dir):
    broken = copy.deepcopy(fresh_bundle)
    patient = next(entry["resource"] for entry in broken["entry"] if entry["resource"]["resourceType"] == "Patient")
    del patient["identifier"]
    refused = gateway.post("/", json=broken, content_type=FHIR_JSON)
    assert refused.status_code == 422
    issues = as_issues(refused.get_json())
    producer = f"dui-browser-{uuid.uuid4().hex[:8]}"
    stored = audit_event.write_refusal(running_hapi.base_url, audit_event.build(
        producer_id=producer, legal_entity={"system": "urn:oid:1.2.250.1.71.4.2.2", "value": "1480787529"}, status=422, request_id=refused.headers["X-Request-ID"],
        submission=None, entries=len(broken["entry"]), issues=issues), timeout=SETUP_TIMEOUT)
    assert stored

    page.set_extra_http_headers({"Authorization": basic_auth("operator", ADMIN_PASSWORD)})
    page.goto(f"{admin_server.url}/admin/?producer={producer}")
    rows = page.locator("#submissions tbody tr")
    assert rows.count() == 1
    assert "422" in rows.first.inner_text() and producer in rows.first.inner_text()
    assert page.locator("#refusals-per-rule").is_visible()
    page.screenshot(path=str(screenshot_dir / "admin.png"), full_page=True)

    rows.first.get_by_role("link").click()
    page.wait_for_url(f"**/admin/submissions/{stored}")
    listed = page.locator("#issues tbody").inner_text()
    for issue in issues:
        if issue.blocking:
            assert issue.rule in listed
    assert ins_of(fresh_bundle) not in visible_text(page)
