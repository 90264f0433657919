"""SMART's Python client (``fhirclient``, PyPI), the library of DUI software written in Python.

It parses every answer strictly into its R4 models, the CapabilityStatement included, so each
answer the gateway gives must be valid R4 for it.
"""
from __future__ import annotations

import requests
from fhirclient.client import FHIRClient
from fhirclient.models.bundle import Bundle
from fhirclient.models.capabilitystatement import CapabilityStatement
from fhirclient.models.operationoutcome import OperationOutcome

from tests.clients.producer_session import API_KEY_HEADER, LOCATION, assert_session_report


def describe(resource) -> dict:
    return {"resourceType": resource.resource_type, "id": resource.id, "versionId": resource.meta.versionId}


def without_id(bundle: dict) -> Bundle:
    """The bundle as a model ``create()`` accepts: it refuses a resource that has an id, as the IG example has."""
    return Bundle({key: value for key, value in bundle.items() if key != "id"})


def test_smart_fhirclient_session(producer_session):
    client = FHIRClient(settings={"app_id": "tddui-gateway-tests", "api_base": producer_session.base_url})
    server = client.server
    server.session.headers[API_KEY_HEADER] = producer_session.api_key
    statuses = []
    server.session.hooks["response"].append(lambda answer, *args, **kwargs: statuses.append(answer.status_code))
    report = {}

    client.prepare()
    capability: CapabilityStatement = server.capabilityStatement
    report["capability"] = {"resourceType": capability.resource_type, "fhirVersion": capability.fhirVersion}

    answer = Bundle(without_id(producer_session.accepted).create(server))
    report["transaction"] = [{"status": entry.response.status, "location": entry.response.location,
                              "etag": entry.response.etag} for entry in answer.entry]
    report["reads"], report["vreads"] = [], []
    for entry in answer.entry:
        model = type(entry.resource)
        location = LOCATION.fullmatch(entry.response.location)
        report["reads"].append(describe(model.read(location["id"], server)))
        report["vreads"].append(describe(model.read_from(entry.response.location, server)))

    # fhirclient has no conditional read: its raw GET takes the header, and swallows the 304.
    first = answer.entry[0].response
    server.request_data(first.location.split("/_history/")[0], headers={"If-None-Match": first.etag})
    report["not_modified"] = statuses[-1] == 304

    try:
        without_id(producer_session.refused).create(server)
        report["refusal"] = {"status": None}
    except requests.HTTPError as refused:
        outcome = OperationOutcome(refused.response.json())
        report["refusal"] = {"status": refused.response.status_code, "issues": [
            {"severity": issue.severity, "code": issue.code, "expression": issue.expression or [],
             "rules": [coding.code for coding in (issue.details.coding if issue.details else None) or []]}
            for issue in outcome.issue]}

    assert_session_report(report, producer_session)
