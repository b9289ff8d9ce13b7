"""GET /api/users/me/export: the account's archive (portability/export.py), streamed."""

import io
import json
import zipfile
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from accounts import sessions
from config import get_settings
from models import Post, User, UserSession
from portability import export, front_matter
from tests.helpers import (
    create_post,
    make_account,
    mark_verified,
    png,
    run_sql,
    scalar,
)
from tests.test_media import name_of, uploaded

EXPORT = "/api/users/me/export"
# No gzip on the way: the chunks a test reads are the ones the route sent.
PLAIN = {"Accept-Encoding": "identity"}


def download(client, account) -> zipfile.ZipFile:
    answer = client.get(EXPORT, headers=account.headers | PLAIN)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(answer.content))


def read_json(archive: zipfile.ZipFile, name: str):
    return json.loads(archive.read(name))


def post_files(archive: zipfile.ZipFile) -> dict[str, tuple[dict, str]]:
    return {
        name: front_matter.parse(archive.read(name).decode())
        for name in archive.namelist()
        if name.startswith("posts/")
    }


def by_title(archive: zipfile.ZipFile) -> dict[str, tuple[str, dict, str]]:
    return {meta["title"]: (name, meta, body) for name, (meta, body) in post_files(archive).items()}


def test_the_archive_holds_every_post_with_its_front_matter(client, alice, bob):
    published = create_post(
        client, alice, "Hello: world", "First words", tags=["python", "web"], summary="Short"
    )
    draft = create_post(client, alice, "A draft", "Not yet", status="draft")
    later = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)
    scheduled = create_post(client, alice, "Soon", "Tomorrow's", publish_at=later.isoformat())
    create_post(client, bob, "Bob's own", "Not Alice's")

    answer = client.get(EXPORT, headers=alice.headers)
    assert answer.status_code == 200, answer.text
    today = datetime.now(UTC).date().isoformat()
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="inkwell-{alice.username}-{today}.zip"'
    )
    assert answer.headers["cache-control"] == "no-store"
    assert "content-encoding" not in answer.headers  # a zip is not gzipped again
    archive = zipfile.ZipFile(io.BytesIO(answer.content))
    assert archive.testzip() is None
    posts = by_title(archive)
    assert set(posts) == {"Hello: world", "A draft", "Soon"}  # never Bob's

    name, meta, body = posts["Hello: world"]
    assert body == "First words"
    assert meta["status"] == "published"
    assert meta["tags"] == ["python", "web"]
    assert meta["summary"] == "Short"
    assert meta["slug"] == published["slug"] == "hello-world"
    assert list(meta) == ["title", "status", "date", "updated", "tags", "summary", "slug"]
    date = datetime.fromisoformat(published["date_posted"])
    assert meta["date"] == date.replace(microsecond=0)
    assert isinstance(meta["updated"], datetime)
    assert name == f"posts/{date.date().isoformat()}-hello-world.md"
    raw = archive.read(name).decode()
    assert raw.startswith("---\ntitle: 'Hello: world'\nstatus: published\ndate: 20")
    assert "T" in raw.split("date: ")[1].split("\n")[0]  # ISO 8601, with its offset
    assert "+00:00\n" in raw

    _name, meta, body = posts["A draft"]
    assert (meta["status"], body, meta["slug"]) == ("draft", "Not yet", draft["slug"])
    assert "summary" not in meta  # none: left out
    assert meta["tags"] == []

    name, meta, _body = posts["Soon"]
    assert meta["status"] == "scheduled"
    assert meta["date"] == later
    assert name == f"posts/{later.date().isoformat()}-{scheduled['slug']}.md"


def test_front_matter_round_trips_and_reads_other_tools_files():
    meta = {
        "title": "Quotes: \"yes\" & 'no'\n--- not a delimiter",
        "status": "published",
        "date": datetime(2026, 12, 7, 21, 30, tzinfo=UTC),
        "updated": datetime(2026, 12, 7, 22, 0, 5, 123456, tzinfo=UTC),
        "tags": ["python", "yes", "1.0"],
        "summary": None,
        "slug": "null",
    }
    body = "---\nA body that starts with a rule\n\n---\n"
    text = front_matter.render(meta, body)
    assert "date: 2026-12-07T21:30:00+00:00\n" in text
    assert "summary" not in text
    parsed, parsed_body = front_matter.parse(text)
    assert parsed_body == body
    expected = {key: value for key, value in meta.items() if key != "summary"}
    assert parsed == expected | {"updated": datetime(2026, 12, 7, 22, 0, 5, tzinfo=UTC)}
    assert parsed["title"] == meta["title"]
    assert parsed["tags"] == ["python", "yes", "1.0"]  # strings, never a bool or a number
    assert parsed["slug"] == "null"
    assert parsed["updated"] == datetime(2026, 12, 7, 22, 0, 5, tzinfo=UTC)  # to the second
    # Hugo/Jekyll-style files, a BOM and CRLF line ends, and none at all.
    hugo = "\ufeff---\r\ntitle: Hugo post\r\ndraft: true\r\ntags: a, b\r\n---\r\nText\r\n"
    assert front_matter.parse(hugo) == (
        {"title": "Hugo post", "draft": True, "tags": "a, b"},
        "Text\n",
    )
    assert front_matter.parse("# Just Markdown\n") == ({}, "# Just Markdown\n")
    assert front_matter.parse("---\nno end\n") == ({}, "---\nno end\n")


@pytest.mark.parametrize(
    "header",
    [
        "x: !!python/object/apply:os.system [echo hacked]",
        "x: !!python/name:os.system",
        "- a list\n- not a mapping",
        "title: [unclosed",
    ],
)
def test_front_matter_never_builds_objects_and_refuses_what_is_not_a_mapping(header):
    with pytest.raises(front_matter.FrontMatterError):
        front_matter.parse(f"---\n{header}\n---\nbody")


def test_account_json_holds_the_profile_settings_methods_and_log(client, alice):
    client.patch(
        f"/api/users/{alice.id}",
        json={"bio": "Writes things", "website": "https://alice.example"},
        headers=alice.headers,
    ).raise_for_status()
    run_sql(
        client,
        "INSERT INTO passkeys (user_id, credential_id, public_key, sign_count, transports, "
        "name, created_at) VALUES (:id, :cred, :key, 0, '', 'My laptop', :now)",
        id=alice.id,
        cred=b"credential-id-bytes",
        key=b"public-key-bytes-0123456789",
        now=datetime.now(UTC),
    )
    run_sql(
        client,
        "INSERT INTO oidc_identities (user_id, provider, subject, email, created_at) "
        "VALUES (:id, 'test', 'alice-at-test', 'alice@provider.example', :now)",
        id=alice.id,
        now=datetime.now(UTC),
    )
    account = read_json(download(client, alice), "account.json")
    assert account["format"] == "inkwell-export"
    assert account["version"] == 1
    profile = account["profile"]
    assert profile == {
        "id": alice.id,
        "username": alice.username,
        "email": alice.email.lower(),
        "email_verified": False,
        "bio": "Writes things",
        "website": "https://alice.example",
        "created_at": profile["created_at"],
        "role": "member",
        "picture": None,
    }
    assert datetime.fromisoformat(profile["created_at"]).tzinfo is not None
    assert account["settings"] == {
        "comment_mail": True,
        "totp_enabled": False,
        "has_password": True,
    }
    [passkey] = account["sign_in_methods"]["passkeys"]
    assert set(passkey) == {"name", "created_at", "last_used_at"}
    assert passkey["name"] == "My laptop"
    [identity] = account["sign_in_methods"]["oidc_identities"]
    assert identity["provider"] == "test"
    assert identity["subject"] == "alice-at-test"
    assert identity["email"] == "alice@provider.example"
    assert set(identity) == {"provider", "subject", "email", "created_at", "last_used_at"}
    types = [event["type"] for event in account["security_log"]]
    assert types[0] == "sign_in"  # oldest first
    assert set(account["security_log"][0]) == {
        "id",
        "type",
        "created_at",
        "ip",
        "user_agent",
        "detail",
    }


def test_no_secret_is_anywhere_in_the_archive(client, alice):
    create_post(client, alice, "Hello", "World")
    totp_secret = "sealed-totp-secret-XYZ123"
    recovery = "a" * 64 + " " + "b" * 64
    run_sql(
        client,
        "UPDATE users SET totp_secret = :secret, totp_pending_secret = :pending, "
        "recovery_codes = :codes WHERE id = :id",
        secret=totp_secret,
        pending="pending-sealed-secret-QRS",
        codes=recovery,
        id=alice.id,
    )
    public_key = b"passkey-public-key-ABCDEF0123456789"
    run_sql(
        client,
        "INSERT INTO passkeys (user_id, credential_id, public_key, sign_count, transports, "
        "name, created_at) VALUES (:id, :cred, :key, 0, '', 'Key', :now)",
        id=alice.id,
        cred=b"credential-id-QWERTY",
        key=public_key,
        now=datetime.now(UTC),
    )
    archive = download(client, alice)
    everything = b"".join(archive.read(name) for name in archive.namelist())
    password_hash = scalar(client, select(User.password_hash).where(User.id == alice.id))
    account_key = scalar(client, select(User.account_key).where(User.id == alice.id))
    refresh_hash = scalar(
        client, select(UserSession.refresh_hash).where(UserSession.user_id == alice.id)
    )
    session_id = scalar(client, select(UserSession.id).where(UserSession.user_id == alice.id))
    secrets = [
        password_hash,
        totp_secret,
        "pending-sealed-secret-QRS",
        "a" * 64,
        "b" * 64,
        account_key,
        alice.token,
        refresh_hash,
        session_id,
    ]
    for secret in secrets:
        assert secret
        assert secret.encode() not in everything, secret
    for raw in (public_key, b"credential-id-QWERTY"):
        assert raw not in everything
        assert raw.hex().encode() not in everything
    assert b"argon2" not in everything
    account = read_json(archive, "account.json")
    assert account["settings"]["totp_enabled"] is True


def test_images_come_along_and_the_markdown_points_at_them(client, alice, bob):
    first = uploaded(client, alice.headers, png(40, 30, "red"))
    second = uploaded(client, alice.headers, png(30, 40, "blue"))
    bobs = uploaded(client, bob.headers, png(20, 20, "green"))
    content = (
        f"Look: ![red]({first['url']})\n\n"
        f"And <{first['url']}> again, twice: ![again]({first['url']})\n\n"
        f'![blue]({second["url"]} "title")\n\n'
        f"Elsewhere: ![x](https://other.example{first['url']})"
    )
    create_post(client, alice, "Pictures", content)
    create_post(client, alice, "Same picture", f"![red]({first['url']})", status="draft")
    create_post(client, bob, "Bob's picture", f"![g]({bobs['url']})")
    archive = download(client, alice)
    media = sorted(name for name in archive.namelist() if name.startswith("media/"))
    assert media == sorted(f"media/{name_of(image)}" for image in (first, second))
    for image in (first, second):
        data = archive.read(f"media/{name_of(image)}")
        assert data == client.get(image["url"]).content
        assert data.startswith(b"RIFF")
    posts = by_title(archive)
    _name, _meta, body = posts["Pictures"]
    red, blue = name_of(first), name_of(second)
    assert body == (
        f"Look: ![red](../media/{red})\n\n"
        f"And <../media/{red}> again, twice: ![again](../media/{red})\n\n"
        f'![blue](../media/{blue} "title")\n\n'
        f"Elsewhere: ![x](https://other.example/media/images/{red})"
    )
    assert posts["Same picture"][2] == f"![red](../media/{red})"
    assert "/media/images/" not in posts["Same picture"][2]


def test_two_posts_of_one_day_and_slug_get_distinct_files(client, alice):
    for content in ("one", "two", "three"):
        create_post(client, alice, "Same title", content)
    files = post_files(download(client, alice))
    assert len(files) == 3
    assert sorted(body for _meta, body in files.values()) == ["one", "three", "two"]
    today = datetime.now(UTC).date().isoformat()
    assert sorted(files) == [
        f"posts/{today}-same-title-2.md",
        f"posts/{today}-same-title-3.md",
        f"posts/{today}-same-title.md",
    ]


def test_comments_json_holds_the_accounts_own_comments(client, alice, bob):
    mark_verified(client, alice)
    mark_verified(client, bob)
    post = create_post(client, bob, "Bob writes", "Text")
    url = f"/api/posts/{post['id']}/comments"
    top = client.post(url, json={"content": "Nice post"}, headers=alice.headers)
    assert top.status_code == 201, top.text
    approval = client.post(f"/api/comments/{top.json()['id']}/approval", headers=bob.headers)
    assert approval.status_code < 300, approval.text
    reply = client.post(
        url, json={"content": "Also this", "parent_id": top.json()["id"]}, headers=alice.headers
    )
    assert reply.status_code == 201, reply.text
    bobs = client.post(url, json={"content": "Bob's own remark"}, headers=bob.headers)
    assert bobs.status_code == 201, bobs.text
    comments = read_json(download(client, alice), "comments.json")
    assert [comment["content"] for comment in comments] == ["Nice post", "Also this"]
    first, second = comments
    assert set(first) == {
        "id",
        "post_id",
        "post_title",
        "parent_id",
        "content",
        "status",
        "created_at",
        "updated_at",
    }
    assert (first["id"], first["post_id"], first["post_title"]) == (
        top.json()["id"],
        post["id"],
        "Bob writes",
    )
    assert first["parent_id"] is None
    assert second["parent_id"] == first["id"]
    assert (first["status"], second["status"]) == ("published", "published")
    assert first["updated_at"] is None
    assert read_json(download(client, bob), "comments.json")[0]["content"] == "Bob's own remark"


def test_an_empty_account_exports_fine(client):
    carol = make_account(client, "Carol")
    archive = download(client, carol)
    assert archive.testzip() is None
    assert sorted(archive.namelist()) == ["account.json", "comments.json"]
    assert read_json(archive, "comments.json") == []
    account = read_json(archive, "account.json")
    assert account["profile"]["username"] == "Carol"
    assert account["sign_in_methods"] == {"passkeys": [], "oidc_identities": []}


def test_exporting_needs_a_signed_in_recent_session(client, alice, monkeypatch):
    assert client.get(EXPORT).status_code == 401
    later = sessions.utcnow() + timedelta(minutes=get_settings().reauth_window_minutes + 1)
    monkeypatch.setattr(sessions, "utcnow", lambda: later)
    answer = client.get(EXPORT, headers=alice.headers)
    assert answer.status_code == 401
    assert answer.json()["code"] == "reauthentication_required"
    assert "content-disposition" not in answer.headers


@pytest.mark.settings(exports_per_hour=2)
def test_exports_are_rate_limited_per_account(client, alice, bob):
    for _ in range(2):
        download(client, alice)
    refused = client.get(EXPORT, headers=alice.headers)
    assert refused.status_code == 429
    assert refused.json()["code"] == "export_limit"
    assert int(refused.headers["retry-after"]) > 0
    download(client, bob)  # another account's budget is its own


@pytest.mark.settings(posts_per_hour=100)
def test_a_large_account_is_sent_in_many_chunks(client, alice, monkeypatch):
    """Built as it is sent: with small pages and chunks, the answer arrives in many
    parts, each about a chunk long, rather than as one finished archive."""
    monkeypatch.setattr(export, "PAGE_SIZE", 5)
    monkeypatch.setattr(export, "CHUNK_BYTES", 2048)
    for n in range(30):
        # Text that compresses badly, so each post adds about its length to the zip.
        create_post(client, alice, f"Post {n}", "".join(f"{n * k:x} " for k in range(1, 300)))
    first_post = scalar(client, select(Post.id).where(Post.user_id == alice.id).limit(1))
    now = datetime.now(UTC)
    for n in range(12):  # more than two pages of each
        run_sql(
            client,
            "INSERT INTO security_events (user_id, type, created_at, ip, user_agent, detail) "
            "VALUES (:user, 'sign_in', :now, '', '', :detail)",
            user=alice.id,
            now=now,
            detail=f"event {n}",
        )
        run_sql(
            client,
            "INSERT INTO comments (post_id, user_id, content, content_html, status, created_at) "
            "VALUES (:post, :user, :content, '', 'published', :now)",
            post=first_post,
            user=alice.id,
            content=f"comment {n}",
            now=now,
        )
    with client.stream("GET", EXPORT, headers=alice.headers | PLAIN) as answer:
        assert answer.status_code == 200
        chunks = list(answer.iter_raw())
    assert len(chunks) > 10
    assert max(len(chunk) for chunk in chunks) < 2048 + 4096  # a chunk, plus one entry
    archive = zipfile.ZipFile(io.BytesIO(b"".join(chunks)))
    assert archive.testzip() is None
    assert len(post_files(archive)) == 30
    comments = read_json(archive, "comments.json")
    assert [comment["content"] for comment in comments] == [f"comment {n}" for n in range(12)]
    log = read_json(archive, "account.json")["security_log"]
    assert [event["detail"] for event in log][-12:] == [f"event {n}" for n in range(12)]
    assert len({event["id"] for event in log}) == len(log)
