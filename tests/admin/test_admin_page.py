"""/admin/: its own credential, the submissions list and its filters, a refusal's rules, the chart."""
from __future__ import annotations

from dataclasses import replace

from flask import Flask

from gateway import audit_event
from gateway.admin import admin_blueprint
from gateway.outcome import single
from tests.admin.conftest import ADMIN_PASSWORD, SETUP_TIMEOUT, basic_auth
from tests.hapi_server import free_port


def write(hapi, producer, status, issues=(), entries=4, request_id="req"):
    event = audit_event.build(producer_id=producer, legal_entity={"system": "urn:oid:1.2.250.1.71.4.2.2", "value": "1970000001"}, status=status,
                              request_id=request_id, submission="cd" * 32, entries=entries, issues=list(issues))
    stored = audit_event.write_refusal(hapi.base_url, event, timeout=SETUP_TIMEOUT)
    assert stored
    return stored


def rule_issue(rule, message="Règle enfreinte."):
    return single("error", "invariant", message, message, rule=rule, expression="Bundle.entry[0].resource")


def test_no_admin_credential_configured_means_no_admin_page(gateway):
    answer = gateway.get("/admin/")
    assert answer.status_code == 404
    assert answer.get_json()["resourceType"] == "OperationOutcome"


def test_the_admin_page_wants_its_own_credential(admin_app, running_hapi):
    client = admin_app.test_client()
    answer = client.get("/admin/")
    assert answer.status_code == 401 and answer.headers["WWW-Authenticate"].startswith("Basic")
    assert answer.get_json()["issue"][0]["details"]["coding"][0]["code"] == "admin-auth"
    assert client.get("/admin/", headers={"Authorization": basic_auth("operator", "wrong")}).status_code == 401
    # a producer's API key is no admin credential
    assert client.get("/admin/", headers={"X-API-Key": "test-producer-key-for-the-ig-example-organisation"}
                      ).status_code == 401


def test_the_list_shows_submissions_filtered_by_producer_and_status(admin, running_hapi, producer):
    accepted = write(running_hapi, producer, 201, entries=7, request_id="req-accepted")
    refused = write(running_hapi, producer, 422, [rule_issue("BR-FLUX1-PROFILES")], request_id="req-refused")
    other = write(running_hapi, producer + "-other", 422, [rule_issue("BR-OTHER")])

    page = admin.get("/admin/", query_string={"producer": producer}).get_data(as_text=True)
    assert accepted in page and refused in page and other not in page
    assert "1970000001" in page and ">7<" in page

    only_refused = admin.get("/admin/", query_string={"producer": producer, "status": "422"}).get_data(as_text=True)
    assert refused in only_refused and accepted not in only_refused
    only_accepted = admin.get("/admin/", query_string={"producer": producer, "status": "accepted"}
                              ).get_data(as_text=True)
    assert accepted in only_accepted and refused not in only_accepted


def test_a_refused_submission_shows_its_rule_ids_and_messages(admin, running_hapi, producer):
    stored = write(running_hapi, producer, 422, [
        rule_issue("tddui-ins-format", "L'INS '1800599123456' ne respecte pas le motif."),
        rule_issue("BR-FLUX1-PROFILES", "Entrée inattendue dans le flux 1.")])
    answer = admin.get(f"/admin/submissions/{stored}")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200
    assert "tddui-ins-format" in page and "BR-FLUX1-PROFILES" in page
    assert "Entrée inattendue dans le flux 1." in page and "ne respecte pas le motif" in page
    assert "1800599123456" not in page
    assert admin.get("/admin/submissions/does-not-exist").status_code == 404


def test_the_chart_counts_refusals_per_rule_over_the_last_seven_days(admin, running_hapi, producer):
    rule = f"rule-{producer}"
    for _ in range(3):
        write(running_hapi, producer, 422, [rule_issue(rule), rule_issue(rule)])
    page = admin.get("/admin/").get_data(as_text=True)
    chart = page[page.index('<svg id="refusals-per-rule"'):page.index("</svg>")]
    # three refused submissions, each counted once for the rule although it names it twice
    assert f"<title>{rule} : 3</title>" in chart


def test_hapi_down_gives_a_clear_503_page(admin_app, admin_settings):
    app = Flask("admin-hapi-down")
    app.register_blueprint(admin_blueprint(replace(admin_settings,
                                                   hapi_base_url=f"http://127.0.0.1:{free_port()}/fhir")))
    answer = app.test_client().get("/admin/", headers={"Authorization": basic_auth("operator", ADMIN_PASSWORD)})
    assert answer.status_code == 503 and "HAPI injoignable" in answer.get_data(as_text=True)
