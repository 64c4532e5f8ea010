"""The OpenAPI 3.1 document of the JSON API (/api/v1), kept beside the views it describes."""
from __future__ import annotations

from typing import Any


def _nullable(kind: str, **extra: Any) -> dict[str, Any]:
    return {"type": [kind, "null"], **extra}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _ok(description: str, schema: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}}


def _query(name: str, description: str, schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "description": description, "schema": schema}


ERRORS = {"401": _error_response("No API key, or a key that is unknown or revoked."),
          "400": _error_response("A parameter is missing or not understood; the message says which.")}

REASON = {"type": "object", "required": ["feature", "text", "impact"], "properties": {
    "feature": {"type": "string"}, "text": {"type": "string"}, "impact": {"type": "number"}}}

FIGURES = {"type": "object", "required": ["key", "name", "expected", "p10", "p50", "p90", "open_deals"],
           "properties": {"key": {"type": "string"}, "name": {"type": "string"},
                          "expected": {"type": "number"}, "p10": {"type": "number"}, "p50": {"type": "number"},
                          "p90": {"type": "number"}, "won_to_date": {"type": "number"},
                          "open_expected": {"type": "number"}, "new_expected": {"type": "number"},
                          "open_deals": {"type": "integer"}}}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["code", "message"],
        "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
    "Score": {"type": "object",
              "required": ["object_type", "remote_id", "connection_id", "score", "band", "probability", "reasons",
                           "next_step", "model_version", "computed_at", "limited_history"],
              "properties": {
                  "object_type": {"type": "string", "enum": ["lead", "opportunity"]},
                  "remote_id": {"type": "string", "description": "The record's id in the CRM."},
                  "connection_id": {"type": "integer"},
                  "score": {"type": "integer", "minimum": 1, "maximum": 99},
                  "band": {"type": "string", "description": "A (best) to D."},
                  "probability": {"type": "number", "minimum": 0, "maximum": 1},
                  "reasons": {"type": "object", "required": ["up", "down"], "properties": {
                      "up": {"type": "array", "items": REASON}, "down": {"type": "array", "items": REASON},
                      "note": {"type": "string"}}},
                  "next_step": _nullable("string"),
                  "model_version": {"type": "string"},
                  "computed_at": {"type": "string", "format": "date-time"},
                  "limited_history": {"type": "boolean",
                                      "description": "Scored by rules: too little history for a trained model."}}},
    "ScorePage": {"type": "object", "required": ["data", "next_after"], "properties": {
        "data": {"type": "array", "items": {"$ref": "#/components/schemas/Score"}},
        "next_after": _nullable("string", description="Pass as `after` for the next page; null on the last.")}},
    "Forecast": {"type": "object",
                 "required": ["period", "as_of", "by", "expected", "p10", "p50", "p90", "open_deals", "scenarios"],
                 "properties": {
                     "period": {"type": "string"}, "as_of": {"type": "string", "format": "date"},
                     "by": {"type": "string", "enum": ["org", "team", "rep"]},
                     "scenario": {"type": "string"},
                     "expected": {"type": "number"}, "p10": {"type": "number"}, "p50": {"type": "number"},
                     "p90": {"type": "number"}, "won_to_date": {"type": "number"},
                     "open_expected": {"type": "number"}, "new_expected": {"type": "number"},
                     "open_deals": {"type": "integer"},
                     "scenarios": {"type": "object", "required": ["pessimistic", "realistic", "optimistic"],
                                   "properties": {k: {"type": "number"}
                                                  for k in ("pessimistic", "realistic", "optimistic")}},
                     "groups": {"type": "array", "items": FIGURES},
                     "model": {"type": "object"}}},
    "ForecastCallList": {"type": "object", "required": ["period", "data"], "properties": {
        "period": {"type": "string"},
        "data": {"type": "array", "items": {
            "type": "object",
            "required": ["owner", "kind", "commit", "best_case", "reason", "version", "latest", "submitted_by",
                         "submitted_at"],
            "properties": {
                "owner": {"type": "string", "description": "The rep's or manager's CRM user id, or \"org\"."},
                "kind": {"type": "string", "enum": ["rep", "manager"]},
                "commit": {"type": "number"}, "best_case": {"type": "number"},
                "reason": _nullable("string", description="Why a manager's call differs from the roll-up."),
                "version": {"type": "integer"}, "latest": {"type": "boolean"},
                "submitted_by": {"type": "string"}, "submitted_at": {"type": "string", "format": "date-time"}}}}}},
    "Connection": {"type": "object",
                   "required": ["id", "provider", "status", "status_reason", "last_synced_at", "lag_seconds",
                                "api_usage", "records"],
                   "properties": {
                       "id": {"type": "integer"}, "provider": {"type": "string"},
                       "status": {"type": "string", "enum": ["healthy", "syncing", "paused_quota", "paused",
                                                             "needs_reauth", "failing", "disconnected"]},
                       "status_reason": _nullable("string"),
                       "last_synced_at": _nullable("string", format="date-time"),
                       "lag_seconds": _nullable("number"),
                       "api_usage": {"type": "object", "required": ["used", "limit"], "properties": {
                           "used": _nullable("integer"), "limit": _nullable("integer")}},
                       "records": {"type": "object", "additionalProperties": {"type": "integer"}}}},
    "ConnectionList": {"type": "object", "required": ["data"], "properties": {
        "data": {"type": "array", "items": {"$ref": "#/components/schemas/Connection"}}}},
}

OBJECT_TYPE = {"type": "string", "enum": ["lead", "opportunity"]}


def document(server_url: str) -> dict[str, Any]:
    """The OpenAPI document, with this deployment's base URL."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Pipewise API", "version": "1",
                 "description": "Scores, forecasts and connection health of your organization. Authenticate "
                                "with an API key created under Admin → API keys."},
        "servers": [{"url": server_url}],
        "security": [{"apiKey": []}],
        "paths": {
            "/scores": {"get": {
                "operationId": "listScores", "summary": "Scores of leads or deals, oldest first, paged.",
                "parameters": [
                    _query("object_type", "Which records: lead or opportunity.", OBJECT_TYPE, required=True),
                    _query("remote_id", "Only the score of this CRM record id.", {"type": "string"}),
                    _query("limit", "Scores per page.", {"type": "integer", "minimum": 1, "maximum": 200,
                                                         "default": 50}),
                    _query("after", "The `next_after` of the previous page.", {"type": "string"})],
                "responses": {"200": _ok("One page of scores.", "ScorePage"), **ERRORS}}},
            "/scores/{object_type}/{remote_id}": {"get": {
                "operationId": "getScore", "summary": "The score of one lead or deal.",
                "parameters": [
                    {"name": "object_type", "in": "path", "required": True, "schema": OBJECT_TYPE},
                    {"name": "remote_id", "in": "path", "required": True, "schema": {"type": "string"},
                     "description": "The record's id in the CRM."}],
                "responses": {"200": _ok("The record's score.", "Score"), **ERRORS,
                              "404": _error_response("No score for this record in your organization.")}}},
            "/forecast": {"get": {
                "operationId": "getForecast", "summary": "Expected won revenue of a period, with P10/P50/P90.",
                "parameters": [
                    _query("period", "A month (2017-10) or a quarter (2017-Q4).", {"type": "string"}, required=True),
                    _query("as_of", "The day the forecast is made (default: today, UTC).",
                           {"type": "string", "format": "date"}),
                    _query("by", "Group by the organization, its teams or its reps.",
                           {"type": "string", "enum": ["org", "team", "rep"], "default": "org"})],
                "responses": {"200": _ok("The forecast.", "Forecast"), **ERRORS}}},
            "/forecast/calls": {"get": {
                "operationId": "listForecastCalls",
                "summary": "The forecast call of a period: reps' commits and best cases, managers' calls, every version.",
                "parameters": [
                    _query("period", "A month (2017-10) or a quarter (2017-Q4).", {"type": "string"}, required=True),
                    _query("owner", "Only this rep's or manager's submissions (a CRM user id, or org).",
                           {"type": "string"})],
                "responses": {"200": _ok("Every submission of the period, newest first.", "ForecastCallList"),
                              **ERRORS}}},
            "/connections": {"get": {
                "operationId": "listConnections", "summary": "Health of your organization's CRM connections.",
                "responses": {"200": _ok("Every connection.", "ConnectionList"), **ERRORS}}},
        },
        "components": {
            "securitySchemes": {"apiKey": {
                "type": "http", "scheme": "bearer", "bearerFormat": "pw_<id>_<secret>",
                "description": "An API key of your organization: `Authorization: Bearer pw_…`."}},
            "schemas": SCHEMAS,
        },
    }
