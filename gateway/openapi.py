"""``GET /openapi.json``: the served endpoints as OpenAPI 3.0, derived from the CapabilityStatement.

Built from the same statement as ``/metadata``, so the two cannot drift: one
path per readable type for read and vread, the transaction, ``$validate`` and
the public endpoints. FHIR bodies are described loosely (an object with a
``resourceType``): the FHIR definitions, not this document, say what a Bundle is.
"""
from __future__ import annotations

from gateway.descriptor import SuccessAnswer

FHIR_ID_PATTERN = r"^[A-Za-z0-9\-.]{1,64}$"
FHIR_MEDIA_TYPES = ("application/fhir+json", "application/fhir+xml")
RESOURCE_SCHEMA = {"type": "object", "required": ["resourceType"],
                   "properties": {"resourceType": {"type": "string"}}}
OUTCOME_SCHEMA = {"type": "object", "required": ["resourceType", "issue"],
                  "properties": {"resourceType": {"type": "string", "enum": ["OperationOutcome"]},
                                 "issue": {"type": "array", "minItems": 1, "items": {"type": "object"}}}}


def _content(schema: dict) -> dict:
    return {media: {"schema": schema} for media in FHIR_MEDIA_TYPES}


def _answers(success: dict, *refusals: int) -> dict:
    answers = dict(success)
    for status in refusals:
        answers[str(status)] = {"description": "refused: OperationOutcome",
                                "content": _content({"$ref": "#/components/schemas/OperationOutcome"})}
    return answers


def _parameter(name: str, where: str, schema: dict, required: bool = True, description: str = "") -> dict:
    return {"name": name, "in": where, "required": required, "schema": schema, "description": description}


def transaction_answers(success: SuccessAnswer) -> dict:
    """The success statuses the served release answers a transaction with (its descriptor's ``[success]``)."""
    bundle = _content({"$ref": "#/components/schemas/Resource"})
    if success.status_when_created == success.status_otherwise:
        return {str(success.status_otherwise): {"description": "transaction-response", "content": bundle}}
    return {str(success.status_when_created): {"description": "transaction-response: an entry was created",
                                               "content": bundle},
            str(success.status_otherwise): {"description": "transaction-response: nothing created (a resend, "
                                                           "or only new versions)", "content": bundle}}


def openapi_document(statement: dict, security_header: str | None, success: SuccessAnswer) -> dict:
    """The OpenAPI description of what ``statement`` declares, plus the gateway's public endpoints."""
    rest = statement["rest"][0]
    format_parameter = _parameter("_format", "query", {"type": "string", "enum": [
        "json", "xml", "application/fhir+json", "application/fhir+xml"]}, required=False,
        description="overrides Accept (FHIR http page)")
    fhir_body = {"required": True, "content": _content({"$ref": "#/components/schemas/Resource"})}
    resource_answer = {"200": {"description": "the resource", "content": _content(
        {"$ref": "#/components/schemas/Resource"})}, "304": {"description": "If-None-Match matched"}}
    paths: dict = {
        "/": {"post": {
            "summary": "TDDUI transaction Bundle (Flux 1)", "operationId": "transaction",
            "parameters": [format_parameter], "requestBody": fhir_body,
            "responses": _answers(transaction_answers(success),
                400, 401, 403, 406, 413, 415, 422, 502, 503, 504)}},
        "/metadata": {"get": {"summary": "CapabilityStatement", "operationId": "capabilities",
                              "parameters": [format_parameter], "security": [],
                              "responses": {"200": {"description": "CapabilityStatement",
                                                    "content": _content({"$ref": "#/components/schemas/Resource"})}}}},
    }
    for operation_path, operation_id in (("/$validate", "validate"), ("/Bundle/$validate", "validateBundle")):
        paths[operation_path] = {"post": {
            "summary": "the checks of POST /, nothing stored", "operationId": operation_id,
            "parameters": [format_parameter], "requestBody": fhir_body,
            "responses": _answers({"200": {"description": "every issue found", "content": _content(
                {"$ref": "#/components/schemas/OperationOutcome"})}}, 400, 401, 406, 413, 415)}}
    id_parameter = _parameter("id", "path", {"type": "string", "pattern": FHIR_ID_PATTERN})
    for resource in rest["resource"]:
        interactions = {interaction["code"] for interaction in resource.get("interaction", [])}
        kind = resource["type"]
        if "read" in interactions:
            paths[f"/{kind}/{{id}}"] = {"get": {
                "summary": f"read {kind}", "operationId": f"read{kind}",
                "parameters": [id_parameter, format_parameter,
                               _parameter("If-None-Match", "header", {"type": "string"}, required=False)],
                "responses": _answers(resource_answer, 401, 404, 406, 502, 503, 504)}}
        if "vread" in interactions:
            paths[f"/{kind}/{{id}}/_history/{{vid}}"] = {"get": {
                "summary": f"vread {kind}", "operationId": f"vread{kind}",
                "parameters": [id_parameter, _parameter("vid", "path", {"type": "string", "pattern": FHIR_ID_PATTERN}),
                               format_parameter,
                               _parameter("If-None-Match", "header", {"type": "string"}, required=False)],
                "responses": _answers(resource_answer, 401, 404, 406, 502, 503, 504)}}
    document = {
        "openapi": "3.0.3",
        "info": {"title": statement["software"]["name"], "version": statement["software"]["version"],
                 "description": f"{statement['implementation']['description']}. "
                                + rest.get("security", {}).get("description", "")},
        "paths": paths,
        "components": {"schemas": {"Resource": RESOURCE_SCHEMA, "OperationOutcome": OUTCOME_SCHEMA}},
    }
    if security_header:
        document["components"]["securitySchemes"] = {
            "apiKey": {"type": "apiKey", "in": "header", "name": security_header}}
        document["security"] = [{"apiKey": []}]
    return document
