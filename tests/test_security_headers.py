"""Security headers on every answer (413s too), and the docs page's one inline script
allowed by its hash, not by unsafe-inline."""

import pytest

JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize("path", ["/", "/login", "/api/posts", "/api/nope", "/nope", "/docs"])
def test_every_response_carries_the_security_headers(client, path):
    response = client.get(path)
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    csp = response.headers["content-security-policy"]
    required = (
        "default-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
    for directive in required:
        assert directive in csp
    if path != "/docs":
        assert "unsafe-inline" not in csp


def test_the_docs_page_allows_only_its_own_inline_script(client):
    csp = client.get("/docs").headers["content-security-policy"]
    script_src = next(d for d in csp.split(";") if d.strip().startswith("script-src"))
    assert "'sha256-" in script_src
    assert "unsafe-inline" not in script_src


def test_413_answers_carry_the_headers_too(client):
    response = client.post("/api/users", content=b"x" * (2 * 1024 * 1024), headers=JSON)
    assert response.status_code == 413
    assert response.headers["x-content-type-options"] == "nosniff"
