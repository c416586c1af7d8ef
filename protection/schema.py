"""OpenAPI: the error answers every operation can give (a drf-spectacular postprocessing hook).

Views document their own success and service errors; this adds what the layers around them
answer: 400 (bad input), 401 (authentication), 404 (no such object in the path), 403
(blacklisted address, or a failed CSRF check with session authentication) and 429 (rate
limited, with Retry-After).
"""

from typing import Any

ERROR = {
    "type": "object",
    "description": "Every error. Validation errors also carry DRF's per-field message lists.",
    "properties": {
        "code": {"type": "string"},
        "detail": {"type": "string"},
        "field": {"type": "string", "nullable": True},
    },
    "required": ["code", "detail", "field"],
}
RATE_LIMITED = {
    "type": "object",
    "properties": {
        **ERROR["properties"],
        "retry_after": {"type": "integer", "description": "Seconds to wait before retrying"},
    },
    "required": ["code", "detail", "field", "retry_after"],
}


def _response(description: str, schema: str, **extra: Any) -> dict[str, Any]:
    content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
    return {"description": description, "content": content, **extra}


def document_refusals(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["ErrorResponse"] = ERROR
    schemas["RateLimitedError"] = RATE_LIMITED
    limited = _response(
        "Rate limited (`code: rate_limited`); nothing was done.",
        "RateLimitedError",
        headers={"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
    )
    for path in result.get("paths", {}).values():
        for operation in path.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            parameters = operation.get("parameters", [])
            if operation.get("requestBody") or any(p.get("in") == "query" for p in parameters):
                responses.setdefault("400", _response("Invalid input.", "ErrorResponse"))
            if any(p.get("in") == "path" for p in parameters):
                responses.setdefault("404", _response("No such object.", "ErrorResponse"))
            security = operation.get("security", [])
            if security and {} not in security:
                responses.setdefault(
                    "401", _response("Missing, invalid or expired credentials.", "ErrorResponse")
                )
            responses.setdefault(
                "403",
                _response(
                    "The client address is blacklisted (`code: blacklisted`), or a "
                    "session-authenticated write failed the CSRF check.",
                    "ErrorResponse",
                ),
            )
            responses.setdefault("429", limited)
    return result
