"""Property-based fuzzing of every API operation from the OpenAPI schema: whatever the
input, no 5xx, and every answer matches what the schema promises."""

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings

from config import settings as app_settings
from main import app
from tests.conftest import STRONG_PASSWORD, bearer, login, register
from tests.databases import fresh_database

EXAMPLES_PER_OPERATION = 30
# Every check runs but one: "a schema-valid request must be accepted". Some rules
# cannot be written in JSON Schema (no control characters, the length after NFKC,
# common passwords), so schema-valid bodies may rightly get a 422.
STRICTER_THAN_SCHEMA = [schemathesis.checks.positive_data_acceptance]

# Loaded from the app object, so nothing starts at import; each call below passes
# the app, and Schemathesis runs its own copy of the lifespan on first use.
schema = schemathesis.openapi.from_dict(app.openapi())
bounded = settings(
    max_examples=EXAMPLES_PER_OPERATION, deadline=None, suppress_health_check=list(HealthCheck)
)


@pytest.fixture(scope="module", autouse=True)
def fuzz_database(tmp_path_factory):
    """One database for the module, already holding the account the fuzzer signs in as."""
    with (
        pytest.MonkeyPatch.context() as patch,
        fresh_database(tmp_path_factory.mktemp("fuzz")) as database_url,
    ):
        patch.setattr(app_settings, "database_url", database_url)
        patch.setattr(app_settings, "auto_migrate", True)
        with TestClient(app) as client:
            register(client, "Fuzzer", "fuzzer@example.com")
        yield


@pytest.fixture(scope="module")
def token() -> str:
    with TestClient(app) as client:
        return login(client, "fuzzer@example.com", STRONG_PASSWORD).json()["access_token"]


@schema.parametrize()
@bounded
def test_anonymous_calls_honour_the_schema(case):
    case.call_and_validate(app=app, excluded_checks=STRICTER_THAN_SCHEMA)


@schema.parametrize()
@bounded
def test_signed_in_calls_honour_the_schema(case, token):
    case.call_and_validate(app=app, headers=bearer(token), excluded_checks=STRICTER_THAN_SCHEMA)
