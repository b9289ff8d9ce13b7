"""Errors the API answers with a stable machine-readable `code` beside the English
`detail`: clients (the front end included) branch on the code, never on the text."""

from collections.abc import Mapping

from starlette.exceptions import HTTPException


class ApiError(HTTPException):
    """An HTTP error answered as `{"detail": ..., "code": ...}` (main.py's handler).

    `code` is part of the API's contract: snake_case, never reworded once published.
    """

    def __init__(
        self,
        status_code: int,
        code: str,
        detail: str,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status_code, detail=detail, headers=dict(headers or {}) or None)
        self.code = code
