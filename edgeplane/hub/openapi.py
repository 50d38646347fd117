"""The hub's OpenAPI document: one set of paths per kind, each with that kind's schema.

The resource routes are generic (``/{plural}/{name}``) so that adding a kind needs no
new code; described that way, generated clients and fuzzers would only ever send an
"object". This module replaces the generic paths in the document (not the routes) by
per-kind paths whose bodies are the kinds' own pydantic schemas, and describes the
hand-parsed bodies of the joining routes, so that schemathesis and generated clients
reach the real validation. Every error answer is the one ``Status`` shape of
``hub.errors``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic.json_schema import models_json_schema

from edgeplane.api.kinds import KINDS, KindInfo

API = "/api/v1alpha1"
GENERIC = (f"{API}/{{plural}}", f"{API}/{{plural}}/{{name}}", f"{API}/{{plural}}/{{name}}/status")
REF = "#/components/schemas/{model}"
MERGE_PATCH = "application/merge-patch+json"

Schema = dict[str, Any]

STATUS: Schema = {
    "type": "object",
    "description": "Every error: a machine-readable reason, a message saying what to change, "
    "and the field it is about (or null).",
    "properties": {
        "reason": {"type": "string"},
        "message": {"type": "string"},
        "field": {"type": ["string", "null"]},
    },
    "required": ["reason", "message"],
}
LABELS: Schema = {"type": "object", "additionalProperties": {"type": "string"}}
JOIN_BODIES: dict[str, Schema] = {
    f"{API}/jointokens": {
        "type": "object",
        "properties": {"labels": LABELS, "ttlSeconds": {"type": "integer"}},
        "additionalProperties": False,
    },
    f"{API}/join": {
        "type": "object",
        "properties": {
            "token": {"type": "string"},
            "site": {"type": "string"},
            "labels": LABELS,
            "inventory": {"type": "object"},
        },
        "required": ["token", "site"],
    },
}


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` return the per-kind document (built once, then cached)."""

    def openapi() -> Schema:
        if app.openapi_schema is None:
            app.openapi_schema = build_document(app)
        return app.openapi_schema

    setattr(app, "openapi", openapi)  # noqa: B010 - FastAPI's documented override point


def build_document(app: FastAPI) -> Schema:
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    paths: dict[str, Any] = document["paths"]
    for generic in GENERIC:
        paths.pop(generic, None)
    components = document.setdefault("components", {}).setdefault("schemas", {})
    components["Status"] = STATUS
    components.update(_kind_schemas())
    for info in KINDS:
        paths.update(kind_paths(info))
    for path, body in JOIN_BODIES.items():
        if operation := paths.get(path, {}).get("post"):
            operation["requestBody"] = _body("application/json", body)
    for item in paths.values():
        for operation in item.values():
            _describe_errors(operation)
    return document


def _kind_schemas() -> dict[str, Schema]:
    """Every kind's schema and the models they use, named once across kinds (pydantic
    disambiguates two models of the same class name)."""
    keys, document = models_json_schema(
        [(info.model, "validation") for info in KINDS], by_alias=True, ref_template=REF
    )
    schemas: dict[str, Schema] = document.get("$defs", {})
    for info in KINDS:  # paths refer to each kind by its own name
        ref = keys[(info.model, "validation")]["$ref"]
        if ref != REF.format(model=info.kind):
            schemas[info.kind] = {"$ref": ref}
    return schemas


def kind_paths(info: KindInfo) -> dict[str, Any]:
    """The list, object and status paths of one kind."""
    base, ref = f"{API}/{info.plural}", {"$ref": REF.format(model=info.kind)}
    name = _path_parameter("name", f"the {info.kind}'s metadata.name")
    whole = _body("application/json", ref)
    partial = _body(MERGE_PATCH, {"type": "object"})
    read = _operation(info, "read", ref, [name])
    return {
        base: {
            "get": _operation(info, "list", {"type": "object"}, _list_parameters()),
            "post": {**_operation(info, "create", ref, [], "201"), "requestBody": whole},
        },
        f"{base}/{{name}}": {
            "get": read,
            "put": {**_operation(info, "replace", ref, [name]), "requestBody": whole},
            "patch": {**_operation(info, "patch", ref, [name]), "requestBody": partial},
            "delete": _operation(info, "delete", ref, [name, _query("resourceVersion")]),
        },
        f"{base}/{{name}}/status": {
            "put": {**_operation(info, "replaceStatus", ref, [name]), "requestBody": whole},
            "patch": {**_operation(info, "patchStatus", ref, [name]), "requestBody": partial},
        },
    }


def _operation(
    info: KindInfo, verb: str, answer: Schema, parameters: list[Schema], status: str = "200"
) -> Schema:
    return {
        "operationId": f"{verb}{info.kind}",
        "tags": [info.kind],
        "parameters": parameters,
        "responses": {
            status: {"description": "OK", "content": {"application/json": {"schema": answer}}}
        },
    }


def _list_parameters() -> list[Schema]:
    return [
        _query("labelSelector"),
        _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
        _query("continue"),
        _query("watch", {"type": "boolean"}),
        _query("resourceVersion"),
    ]


def _query(name: str, schema: Schema | None = None) -> Schema:
    return {"name": name, "in": "query", "required": False, "schema": schema or {"type": "string"}}


def _path_parameter(name: str, description: str) -> Schema:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string"},
    }


def _body(media_type: str, schema: Schema) -> Schema:
    return {"required": True, "content": {media_type: {"schema": schema}}}


def _describe_errors(operation: Schema) -> None:
    error = {"content": {"application/json": {"schema": {"$ref": REF.format(model="Status")}}}}
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)  # FastAPI's HTTPValidationError: the hub answers Status
    responses["default"] = {"description": "an error (4xx/5xx)", **error}
