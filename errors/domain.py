"""The one kind of error services raise: a `DomainError` names what went wrong with a
stable machine-readable `code` beside the English `detail`, and the HTTP status it is
answered with. main.py's handler turns it into `{"detail": ..., "code": ...}` (or the
error page, off the API), so services need no HTTP to be used or tested, and clients
(forms.js included) branch on the code, never on the text.

A code is part of the API's contract: snake_case, never reworded once published. The
README lists them.
"""

from collections.abc import Mapping


class DomainError(Exception):
    """A refusal a client can act on: bad input, a missing thing, a spent budget."""

    def __init__(
        self,
        status_code: int,
        code: str,
        detail: str,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.code = code
        self.detail = detail
        self.headers = dict(headers or {}) or None
        # Fields the client needs to act on this refusal (`mfa_token` beside
        # `mfa_required`), answered beside `detail` and `code`.
        self.extra = dict(extra or {})

    def body(self) -> dict[str, str]:
        """The JSON every refusal of the API is answered with."""
        return {**self.extra, "detail": self.detail, "code": self.code}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status_code}, {self.code!r}, {self.detail!r})"


# Codes for the answers no service chose: the framework's own (an unknown route, a
# method not allowed, a missing bearer token) and a refused request body.
STATUS_CODES: dict[int, str] = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    503: "service_unavailable",
}


def code_for_status(status_code: int) -> str:
    return STATUS_CODES.get(status_code, "error" if status_code < 500 else "server_error")
