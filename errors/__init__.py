"""Errors the API answers with a stable machine-readable `code` beside the English
`detail`: clients (the front end included) branch on the code, never on the text."""

from collections.abc import Mapping

import sqlalchemy.exc
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


def is_database_unavailable(error: BaseException) -> bool:
    """Whether `error` says the database cannot be reached or used right now (no free
    connection in time, a server that went away, a lock that did not come), rather
    than that a query is wrong: the first is a 503 with Retry-After, the second a bug."""
    if isinstance(error, sqlalchemy.exc.TimeoutError | sqlalchemy.exc.OperationalError):
        return True
    return isinstance(error, sqlalchemy.exc.DBAPIError) and error.connection_invalidated
