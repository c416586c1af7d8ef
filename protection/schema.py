"""OpenAPI: the refusals protection adds to every operation (a drf-spectacular hook)."""

from typing import Any

_ERROR_PROPERTIES = {
    "code": {"type": "string"},
    "detail": {"type": "string"},
    "field": {"type": "string", "nullable": True},
}


def document_refusals(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Adds 403 (blacklisted address) and 429 (rate limited, with Retry-After) everywhere."""
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["RateLimitedError"] = {
        "type": "object",
        "properties": {
            **_ERROR_PROPERTIES,
            "retry_after": {"type": "integer", "description": "Seconds to wait before retrying"},
        },
        "required": ["code", "detail", "retry_after"],
    }
    schemas.setdefault(
        "RefusalError",
        {"type": "object", "properties": _ERROR_PROPERTIES, "required": ["code", "detail"]},
    )
    limited = {
        "description": "Rate limited (`code: rate_limited`); nothing was done.",
        "headers": {
            "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}
        },
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/RateLimitedError"}}
        },
    }
    blocked = {
        "description": "The client address is blacklisted (`code: blacklisted`).",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RefusalError"}}},
    }
    for path in result.get("paths", {}).values():
        for operation in path.values():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            operation["responses"].setdefault("429", limited)
            operation["responses"].setdefault("403", blocked)
    return result
