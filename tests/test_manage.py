"""`python -m manage promote|demote EMAIL`: the server's shell gives and takes the admin
role, logged as the "server shell"; an unknown email and demoting the last admin are
refused with a message and a non-zero exit."""

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

import manage
from config import BASE_DIR
from models import AdminAction, User
from tests.helpers import make_account, scalar, settings_changed


def run_manage(database_url: str, *argv: str) -> int:
    """`manage.main`, in a thread of its own (it starts its own event loop, which the
    test client's thread already runs), against the test's database."""
    with settings_changed(database_url=database_url), ThreadPoolExecutor(1) as pool:
        return pool.submit(manage.main, list(argv)).result()


def role_of(client, user_id: int) -> str:
    return scalar(client, select(User.role).where(User.id == user_id))


def test_promote_and_demote_by_email_in_any_case(client, database_url, capsys):
    alice = make_account(client, "Alice")
    assert run_manage(database_url, "promote", alice.email.upper()) == 0
    assert "Alice <alice@example.com> is now an admin." in capsys.readouterr().out
    assert role_of(client, alice.id) == "admin"
    assert client.get("/api/users/me", headers=alice.headers).json()["role"] == "admin"
    assert client.get("/api/admin/users", headers=alice.headers).status_code == 200

    assert run_manage(database_url, "promote", alice.email) == 0
    assert "already an admin" in capsys.readouterr().out

    bob = make_account(client, "Bob")
    assert run_manage(database_url, "promote", bob.email) == 0
    assert run_manage(database_url, "demote", alice.email) == 0
    assert "is now a member" in capsys.readouterr().out
    assert role_of(client, alice.id) == "member"
    assert client.get("/api/admin/users", headers=alice.headers).status_code == 403

    logged = client.get("/api/admin/actions", headers=bob.headers).json()["items"]
    assert [(a["action"], a["target_name"], a["actor_name"], a["actor_id"]) for a in logged] == [
        ("demote", "Alice", "server shell", None),
        ("promote", "Bob", "server shell", None),
        ("promote", "Alice", "server shell", None),
    ]


def test_an_unknown_email_is_refused(client, database_url, capsys):
    assert run_manage(database_url, "promote", "nobody@example.com") == 1
    assert "No account has the email 'nobody@example.com'." in capsys.readouterr().err
    assert scalar(client, select(AdminAction.id)) is None


def test_the_last_admin_cannot_be_demoted(client, database_url, capsys):
    alice = make_account(client, "Alice")
    bob = make_account(client, "Bob")
    run_manage(database_url, "promote", alice.email)
    run_manage(database_url, "promote", bob.email)
    client.post(f"/api/admin/users/{bob.id}/suspension", headers=alice.headers)
    capsys.readouterr()
    # Bob is suspended: Alice is the last admin who can sign in.
    assert run_manage(database_url, "demote", alice.email) == 1
    assert "Refused: This would leave no admin" in capsys.readouterr().err
    assert role_of(client, alice.id) == "admin"


@pytest.mark.parametrize("argv", [[], ["promote"], ["frobnicate", "a@example.com"]])
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exited:
        manage.parse_args(argv)
    assert exited.value.code == 2


def test_it_runs_as_a_module(tmp_path):
    """`python -m manage` on a database that does not exist yet: the schema is made."""
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "manage", "promote", "someone@example.com"],
        cwd=BASE_DIR,
        env={"DATABASE_URL": url, "PATH": "/usr/bin:/bin", "SECRET_KEY": "k" * 40},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "No account has the email 'someone@example.com'." in done.stderr
    assert (tmp_path / "fresh.db").exists()
