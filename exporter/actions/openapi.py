"""An OpenAPI 3 document generated from the action specs, so it can't disagree with the routes."""

from __future__ import annotations

from typing import Any

from exporter import __version__
from exporter.actions.service import API_PREFIX, CONFIRM_CRITICAL, MAX_BODY_BYTES
from exporter.sources.action_api import ActionParam, ActionSpec

_ERRORS = {
    "400": "Invalid parameter, query, or body.",
    "401": "Missing, malformed, unknown or expired bearer token.",
    "403": "Actions are disabled (no tokens configured), or the token's allow rules do not cover this.",
    "404": "The target, port or outlet is not in the latest snapshot.",
    "405": "Only POST is allowed.",
    "408": "A request body was announced but did not arrive within the body read timeout.",
    "409": f"The target is marked critical and the request lacks confirm={CONFIRM_CRITICAL}; nothing was called.",
    "413": f"Request body larger than {MAX_BODY_BYTES} bytes.",
    "415": "A body was sent that is not application/json.",
    "429": "Cooling down (one action per outlet or port, and per whole device or strip), or too many failed "
    "authentication attempts; see Retry-After.",
    "500": "An internal error (a bug); the exporter logs it.",
    "502": "The vendor API or device refused or failed the request; upstream_status has its status.",
    "504": "The vendor API or device did not answer in time.",
}


def _param_schema(param: ActionParam) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": param.kind}
    if param.minimum is not None:
        schema["minimum"] = param.minimum
    if param.maximum is not None:
        schema["maximum"] = param.maximum
    if param.pattern is not None:
        schema["pattern"] = param.pattern
    if param.kind == "string":
        schema.setdefault("minLength", 1)
        schema["maxLength"] = 128
    return schema


def _result(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Result"}}},
    }


def build_openapi(specs: tuple[ActionSpec, ...]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for spec in specs:
        responses = {
            "200": _result("Done, or (with dry_run=true) what would be done."),
            **{code: _result(text) for code, text in _ERRORS.items() if code != "405"},
        }
        for code in ("429",):
            responses[code]["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
        responses["401"]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        parameters = [
            {"name": p.name, "in": "path", "required": True, "description": p.description, "schema": _param_schema(p)}
            for p in spec.params
        ]
        parameters.append(
            {
                "name": "dry_run",
                "in": "query",
                "required": False,
                "description": "Validate and authorize only; call nothing.",
                "schema": {"type": "boolean", "default": False},
            }
        )
        parameters.append(
            {
                "name": "confirm",
                "in": "query",
                "required": False,
                "description": "Required to act on a target marked critical (a DLI outlet flagged critical); "
                "the audit line then carries confirmed=critical.",
                "schema": {"type": "string", "enum": [CONFIRM_CRITICAL]},
            }
        )
        paths[API_PREFIX + spec.path] = {
            "post": {
                "operationId": f"{spec.source}_{spec.action}",
                "summary": spec.summary,
                "tags": [spec.source],
                "parameters": parameters,
                "requestBody": {
                    "required": False,
                    "content": {"application/json": {"schema": {"type": "object", "maxProperties": 0}}},
                },
                "responses": responses,
                "security": [{"bearer": []}],
            },
        }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "powerstrip-exporter action API",
            "version": __version__,
            "description": "Reboot power strips, reset ports, and cycle outlets. Every answer has the Result shape.",
        },
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Result": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["ok", "action", "target", "detail", "upstream_status"],
                    "properties": {
                        "ok": {"type": "boolean"},
                        "action": {"type": "string"},
                        "target": {
                            "type": "string",
                            "nullable": True,
                            "description": "The target, once the token is allowed on it and it is known; "
                            "null otherwise (a name the caller sent is never repeated).",
                        },
                        "detail": {"type": "string"},
                        "upstream_status": {"type": "integer", "nullable": True},
                    },
                }
            },
        },
    }
