"""Every refusal carries a stable `code` beside its `detail`: the codes the services
raise, the framework's own answers coded by status, and the README's list of codes,
which is what clients read, kept equal to what the code can answer."""

import ast
import re
from pathlib import Path

import pytest

from config import BASE_DIR, get_settings
from errors.domain import STATUS_CODES
from images.pool import REFUSAL_STATUS
from tests.helpers import bearer

APPLICATION = [
    path
    for path in BASE_DIR.glob("**/*.py")
    if not path.relative_to(BASE_DIR).parts[0].startswith((".", "tests", "bench", "migrations"))
    and "node_modules" not in path.parts
]
# The helpers that build a DomainError, and which of their arguments is the code.
CODE_ARGUMENT = {"DomainError": 1, "_invalid": 0, "_refused": 0, "_not_accepted": 0}
SNAKE_CASE = re.compile(r"[a-z]+(?:_[a-z0-9]+)*")


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def codes_in(path: Path) -> set[str]:
    """The codes a module can raise: literal or module-level constant arguments."""
    tree = ast.parse(path.read_text())
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name) and isinstance(node.value.value, str)
    }
    found: set[str] = set()
    functions = (n for n in ast.walk(tree) if isinstance(n, ast.AsyncFunctionDef | ast.FunctionDef))
    for function in functions:  # a `code` parameter's default
        arguments = function.args
        positional = arguments.args[len(arguments.args) - len(arguments.defaults) :]
        pairs = [
            *zip(positional, arguments.defaults, strict=True),
            *zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True),
        ]
        for argument, default in pairs:
            if argument.arg == "code" and isinstance(default, ast.Constant):
                found.add(str(default.value))
    for call in (node for node in ast.walk(tree) if isinstance(node, ast.Call)):
        arguments = [kw.value for kw in call.keywords if kw.arg == "code"]
        index = CODE_ARGUMENT.get(_name(call.func) or "")
        if index is not None and len(call.args) > index:
            arguments.append(call.args[index])
        for argument in arguments:
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                found.add(argument.value)
            elif isinstance(argument, ast.Name) and argument.id in constants:
                found.add(constants[argument.id])
    return found


def raised_codes() -> set[str]:
    codes = set().union(*(codes_in(path) for path in APPLICATION))
    return codes | set(REFUSAL_STATUS) | set(STATUS_CODES.values())


def documented_codes() -> set[str]:
    readme = (BASE_DIR / "README.md").read_text()
    section = readme.split("<!-- error codes -->")[1]
    return set(re.findall(r"^\| `([a-z0-9_]+)` \|", section, flags=re.MULTILINE))


def test_the_scan_sees_the_codes_it_should():
    """A guard on the scan itself: codes raised each way are found."""
    codes = raised_codes()
    assert {"username_taken", "link_used", "passkey_unknown", "mail_limit"} <= codes
    assert {"sign_up_limit", "too_many_attempts", "invalid_cursor", "not_found"} <= codes
    assert "rate_limited" in codes  # a keyword's default


def test_every_code_is_snake_case_and_documented():
    codes = raised_codes()
    assert all(SNAKE_CASE.fullmatch(code) for code in codes), sorted(codes)
    assert documented_codes() == codes


def test_services_raise_no_http_exceptions():
    """Only routers, main.py and the request layer speak HTTP exceptions; services
    raise DomainError, so they can be used and tested without HTTP."""
    allowed = {BASE_DIR / "main.py", BASE_DIR / "web" / "middleware.py"}
    offenders = [
        str(path.relative_to(BASE_DIR))
        for path in APPLICATION
        if path not in allowed
        and path.parent.name != "routers"
        and "HTTPException" in path.read_text()
    ]
    assert offenders == []


def test_no_router_imports_another_router():
    offenders = []
    for path in (BASE_DIR / "routers").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("routers"):
                offenders.append(f"{path.name}: {node.module}")
            if isinstance(node, ast.Import) and any(
                alias.name.startswith("routers") for alias in node.names
            ):
                offenders.append(path.name)
    assert offenders == []


@pytest.mark.parametrize(
    ("method", "path", "kwargs", "status", "code"),
    [
        ("GET", "/api/nothing-here", {}, 404, "not_found"),
        ("DELETE", "/api/users/token", {}, 405, "method_not_allowed"),
        ("GET", "/api/users/me", {}, 401, "not_authenticated"),
        ("GET", "/api/users/me", {"headers": bearer("x.y.z")}, 401, "invalid_token"),
        ("POST", "/api/users", {"json": {}}, 422, "validation_error"),
        ("GET", "/api/posts?cursor=forged", {}, 400, "invalid_cursor"),
        ("GET", "/api/posts/999999", {}, 404, "post_not_found"),
        (
            "POST",
            "/api/users",
            {
                "content": b"{" + b" " * get_settings().max_body_bytes + b"}",
                "headers": {"Content-Type": "application/json"},
            },
            413,
            "request_too_large",
        ),
    ],
)
def test_the_framework_answers_carry_codes(client, method, path, kwargs, status, code):
    response = client.request(method, path, **kwargs)
    assert response.status_code == status
    body = response.json()
    assert body["code"] == code
    assert body["detail"]


def test_a_page_error_is_still_a_page(client):
    """Off the API a refusal is the friendly error page, not JSON."""
    response = client.get("/posts/999999")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Post not found" in response.text


def test_a_domain_error_keeps_its_headers(client, alice):
    response = client.get("/api/users/me", headers={"Authorization": "Bearer x.y.z"})
    assert response.headers["www-authenticate"] == "Bearer"
    assert client.get("/api/users/me", headers=bearer(alice.token)).status_code == 200
