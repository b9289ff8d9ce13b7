"""Whether an error says the database cannot be used right now, rather than a bug."""

import sqlalchemy.exc


def is_database_unavailable(error: BaseException) -> bool:
    """Whether `error` says the database cannot be reached or used right now (no free
    connection in time, a server that went away, a lock that did not come), rather
    than that a query is wrong: the first is a 503 with Retry-After, the second a bug."""
    if isinstance(error, sqlalchemy.exc.TimeoutError | sqlalchemy.exc.OperationalError):
        return True
    return isinstance(error, sqlalchemy.exc.DBAPIError) and error.connection_invalidated
