"""Google's error JSON: the ``status`` name of each HTTP code, the fake's messages, the body.

Every refusal the fake answers (auth, permission, quota, faults, bad requests) takes this one
shape, so clients see what Google would send them (``brokers-and-sheets-wire.md`` §3.3).
"""

from __future__ import annotations

from typing import Any

STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
MESSAGES = {
    500: "Internal error encountered.",
    502: "Bad Gateway",
    503: "The service is currently unavailable.",
    504: "The service is currently unavailable.",
}
UNAUTHENTICATED = (
    "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
    "cookie or other valid authentication credential. See "
    "https://developers.google.com/identity/sign-in/web/devconsole-project."
)


def error_body(code: int, message: str, status: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "error": {"code": code, "message": message, "status": status or STATUS.get(code, "")}
    }
    if code == 429:
        body["error"]["details"] = [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "RATE_LIMIT_EXCEEDED",
                "domain": "googleapis.com",
                "metadata": {
                    "service": "sheets.googleapis.com",
                    "consumer": "projects/123456789",
                    "quota_limit": "WriteRequestsPerMinutePerUser",
                    "quota_metric": "sheets.googleapis.com/write_requests",
                },
            }
        ]
    return body
