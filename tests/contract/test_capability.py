"""The CapabilityStatement tells the truth: every interaction and format TDDUIConsommateur lists is served."""
from __future__ import annotations

import json

from gateway.capability import consumer_requirements
from gateway.fhir_xml import FhirXml
from tests.contract.test_reads import legal_entity_of, store_in_hapi

MEDIA_FORMATS = {"application/fhir+json", "application/fhir+xml"}


def test_statement_declares_what_is_served(gateway, packages, settings):
    statement = gateway.get("/metadata").get_json()
    requirements = consumer_requirements(packages, settings.implementation_guide)
    rest, required = statement["rest"][0], requirements["rest"][0]
    assert set(statement["format"]) == set(requirements["format"])
    assert [i["code"] for i in rest["interaction"]] == ["transaction"]
    served = {r["type"]: {i["code"] for i in r.get("interaction", [])} for r in rest["resource"]}
    for resource in required["resource"]:
        assert {i["code"] for i in resource["interaction"]} <= served[resource["type"]]
        assert served[resource["type"]] == {"read", "vread"}
    assert [o["name"] for o in rest["operation"]] == ["validate"]
    assert "X-API-Key" in rest["security"]["description"]


def test_every_listed_interaction_answers_in_every_listed_format(gateway, running_hapi, fresh_bundle, packages,
                                                                 settings):
    requirements = consumer_requirements(packages, settings.implementation_guide)
    xml = FhirXml.from_package(settings.r4_core_package_path)
    bundle_for_reads = json.loads(json.dumps(fresh_bundle))
    stored = store_in_hapi(running_hapi, bundle_for_reads, legal_entity_of(bundle_for_reads))
    checked = []
    for media in requirements["format"]:
        assert media in MEDIA_FORMATS
        for interaction in requirements["rest"][0]["interaction"]:
            assert interaction["code"] == "transaction"
            body = json.dumps(fresh_bundle) if media.endswith("json") else xml.to_xml(fresh_bundle)
            answer = gateway.post("/", data=body, content_type=media, headers={"Accept": media})
            assert answer.status_code in (200, 201) and answer.mimetype == media, answer.get_data(as_text=True)[:500]
            checked.append(("transaction", media))
        for resource in requirements["rest"][0]["resource"]:
            for interaction in resource["interaction"]:
                assert interaction["code"] == "read"
                answer = gateway.get(f"/{resource['type']}/{stored[resource['type']]}", headers={"Accept": media})
                assert answer.status_code == 200 and answer.mimetype == media
                checked.append((f"read {resource['type']}", media))
        metadata = gateway.get("/metadata", headers={"Accept": media})
        assert metadata.status_code == 200 and metadata.mimetype == media
    assert len(checked) == 2 * (1 + 3)


def test_security_follows_the_configuration(settings, packages):
    from dataclasses import replace

    from gateway.capability import security
    assert "GATEWAY_AUTH=off" in security(replace(settings, auth_required=False))["description"]
    with_proxy = security(replace(settings, trusted_proxies=("10.0.0.1",)))
    assert with_proxy["service"][0]["coding"][0]["code"] == "Certificates"
    assert "service" not in security(settings)


def test_openapi_describes_the_served_endpoints(gateway):
    document = gateway.get("/openapi.json").get_json()
    operations = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    reads = {("GET", f"/{kind}/{{id}}") for kind in ("Patient", "Organization", "Encounter")}
    vreads = {("GET", f"/{kind}/{{id}}/_history/{{vid}}") for kind in ("Patient", "Organization", "Encounter")}
    assert operations == {("POST", "/"), ("POST", "/$validate"), ("POST", "/Bundle/$validate"),
                          ("GET", "/metadata")} | reads | vreads
    assert document["components"]["securitySchemes"]["apiKey"]["name"] == "X-API-Key"
    for path, item in document["paths"].items():
        for operation in item.values():
            assert "application/fhir+xml" in next(iter(operation["responses"].values())).get(
                "content", {"application/fhir+xml": None}), path
