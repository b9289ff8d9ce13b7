"""Importing posts (POST /api/users/me/import, portability/importing.py): Inkwell's own
export format, Hugo, Jekyll and Bear Markdown, images through the media rules, and
every kind of hostile archive refused or skipped before it costs anything."""

import io
import stat
import zipfile
from datetime import UTC, datetime

import pytest
from PIL import Image
from sqlalchemy import select

from models import MediaImage, Post
from portability import importing
from tests.helpers import png, scalar

IMPORT = "/api/users/me/import"
MIB = 2**20


def zip_of(files: dict[str, str | bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def send(client, account, data: bytes, filename: str = "export.zip", **params):
    return client.post(
        IMPORT,
        files={"file": (filename, data, "application/octet-stream")},
        params={key: str(value).lower() for key, value in params.items()},
        headers=account.headers,
    )


def imported(client, account, data: bytes, filename: str = "export.zip", **params) -> dict:
    response = send(client, account, data, filename, **params)
    assert response.status_code == 200, response.text
    return response.json()


def my_posts(client, account) -> dict[str, dict]:
    response = client.get("/api/users/me/posts?limit=100", headers=account.headers)
    assert response.status_code == 200, response.text
    return {post["title"]: post for post in response.json()["items"]}


def reasons(answer: dict) -> dict[str, str]:
    return {item["file"]: item["reason"] for item in answer["skipped"]}


def moment(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


HUGO = {
    "site/config.toml": 'title = "My site"\n',
    "site/content/posts/first.md": (
        "---\n"
        'title: "First post"\n'
        "date: 2021-04-05T10:30:00+02:00\n"
        "tags: [Python, Web Dev]\n"
        'description: "Where it all began"\n'
        "slug: in-the-beginning\n"
        "---\n\n"
        "Hello **world**.\n"
    ),
    "site/content/posts/second.md": (
        "---\ntitle: Second post\ndate: 2022-01-02\ntags: notes, life\n---\nMore words.\n"
    ),
    "site/content/posts/wip.md": (
        "---\ntitle: Work in progress\ndate: 2023-06-07T08:00:00Z\ndraft: true\n---\nNot yet.\n"
    ),
}


def test_a_hugo_folder_comes_in_as_drafts_keeping_dates_tags_summaries_and_slugs(client, alice):
    answer = imported(client, alice, zip_of(HUGO))
    assert answer["imported"] == 3
    # The site's config is no post: reported, not silently dropped.
    assert set(reasons(answer)) == {"site/config.toml"}
    posts = my_posts(client, alice)
    assert set(posts) == {"First post", "Second post", "Work in progress"}
    first = posts["First post"]
    assert first["status"] == "draft"
    assert first["date_posted"] is None
    assert first["tags"] == ["python", "web-dev"]
    assert first["summary"] == "Where it all began"
    assert first["slug"] == "in-the-beginning"
    assert first["content"] == "Hello **world**."
    assert posts["Second post"]["tags"] == ["life", "notes"]
    # A draft has no publication date: its original date orders the author's list.
    changed = scalar(client, select(Post.changed_at).where(Post.id == first["id"]))
    assert changed.replace(tzinfo=changed.tzinfo or UTC) == datetime(2021, 4, 5, 8, 30, tzinfo=UTC)


def test_publish_true_publishes_at_the_original_dates_and_drafts_stay_drafts(client, alice):
    files = HUGO | {
        "site/content/posts/later.md": (
            "---\ntitle: Coming soon\ndate: 2999-01-01T09:00:00Z\n---\nThe future.\n"
        ),
    }
    answer = imported(client, alice, zip_of(files), publish=True)
    assert answer["imported"] == 4
    posts = my_posts(client, alice)
    first = posts["First post"]
    assert first["status"] == "published"
    assert moment(first["date_posted"]) == datetime(2021, 4, 5, 8, 30, tzinfo=UTC)
    assert moment(posts["Second post"]["date_posted"]) == datetime(2022, 1, 2, tzinfo=UTC)
    assert posts["Work in progress"]["status"] == "draft"
    assert posts["Coming soon"]["status"] == "scheduled"
    assert moment(posts["Coming soon"]["date_posted"]) == datetime(2999, 1, 1, 9, tzinfo=UTC)
    # On the site under its kept slug.
    page = client.get(f"/posts/{first['id']}/in-the-beginning")
    assert page.status_code == 200
    assert "Hello" in page.text


def test_a_jekyll_post_as_a_single_file(client, alice):
    text = (
        "---\nlayout: post\ntitle: My trip\ndate: 2016-01-01 12:00:00 -0500\n"
        "tags: travel, food\ncategories: [blog]\n---\nWe went.\n"
    )
    answer = imported(client, alice, text.encode(), "2016-01-01-my-trip.md", publish=True)
    assert answer == {"imported": 1, "skipped": []}
    post = my_posts(client, alice)["My trip"]
    assert moment(post["date_posted"]) == datetime(2016, 1, 1, 17, tzinfo=UTC)
    assert post["tags"] == ["food", "travel"]


def test_a_bear_note_without_front_matter_takes_its_title_from_the_heading(client, alice):
    answer = imported(client, alice, b"# Groceries\n\nMilk and bread.\n", "Groceries.md")
    assert answer == {"imported": 1, "skipped": []}
    post = my_posts(client, alice)["Groceries"]
    assert post["content"] == "Milk and bread."
    assert post["status"] == "draft"
    # No heading either: the file's name.
    imported(client, alice, b"Just a thought.\n", "a-passing-thought.md")
    assert "a passing thought" in my_posts(client, alice)


def webp(color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 6), color).save(out, "WEBP")
    return out.getvalue()


def test_inkwell_export_format(client, alice):
    stored_name = "a" * 64 + ".webp"
    files = {
        "account.json": '{"username": "alice"}',
        "comments.json": "[]",
        "posts/2026-12-07-hello.md": (
            "---\n"
            'title: "Hello"\n'
            "status: published\n"
            "date: 2026-12-07T21:30:00+00:00\n"
            "updated: 2026-12-07T22:00:00+00:00\n"
            "tags: [python, web]\n"
            'summary: "A greeting"\n'
            "slug: hello-there\n"
            "---\n"
            f"Hi! ![a red dot](../media/{stored_name})\n"
        ),
        "posts/2026-12-08-notes.md": (
            "---\ntitle: Notes\nstatus: draft\ndate: 2026-12-08T10:00:00+00:00\n"
            "tags: []\nslug: notes\n---\nScratch.\n"
        ),
        f"media/{stored_name}": webp(),
    }
    answer = imported(client, alice, zip_of(files), publish=True)
    assert answer["imported"] == 2
    assert set(reasons(answer)) == {"account.json", "comments.json"}
    posts = my_posts(client, alice)
    hello = posts["Hello"]
    assert hello["status"] == "published"
    assert hello["slug"] == "hello-there"
    assert hello["summary"] == "A greeting"
    assert hello["tags"] == ["python", "web"]
    assert moment(hello["date_posted"]) == datetime(2026, 12, 7, 21, 30, tzinfo=UTC)
    assert moment(hello["updated_at"]) == datetime(2026, 12, 7, 22, tzinfo=UTC)
    assert "../media/" not in hello["content"]
    url = hello["content"].split("](")[1].split(")")[0]
    assert url.startswith("/media/images/")
    assert url.endswith(".webp")
    assert client.get(url).status_code == 200
    assert posts["Notes"]["status"] == "draft"
    assert posts["Notes"]["slug"] == "notes"


def test_relative_images_are_stored_through_the_media_rules(client, alice):
    files = {
        "blog/hello/index.md": (
            "---\ntitle: With pictures\n---\n"
            "![A dot](images/dot.png) and again ![same](images/dot.png)\n"
            "![missing](images/nope.png) ![away](../../../etc/x.png) "
            "![remote](https://example.com/a.png)\n"
        ),
        "blog/hello/images/dot.png": png(40, 30, "blue"),
        "blog/hello/images/notes.png": b"not a picture at all",
    }
    answer = imported(client, alice, zip_of(files))
    assert answer["imported"] == 1
    skipped = answer["skipped"]
    post = my_posts(client, alice)["With pictures"]
    name = scalar(client, select(MediaImage.name).where(MediaImage.user_id == alice.id))
    url = f"/media/images/{name}"
    assert post["content"].count(url) == 2
    image = Image.open(io.BytesIO(client.get(url).content))
    assert image.format == "WEBP"
    assert image.size == (40, 30)
    # Left as they were, each reported.
    assert "images/nope.png" in post["content"]
    assert "https://example.com/a.png" in post["content"]
    about = [item["reason"] for item in skipped if item["file"] == "blog/hello/index.md"]
    assert any("images/nope.png" in reason and "not in the archive" in reason for reason in about)
    assert any("outside the archive" in reason for reason in about)
    assert not any("example.com" in reason for reason in about)
    assert "blog/hello/images/notes.png" in reasons(answer)  # used by no post


def test_a_refused_image_is_reported_and_the_post_still_imported(client, alice):
    files = {
        "posts/a.md": "---\ntitle: Broken picture\n---\n![x](pic.png)\n",
        "posts/pic.png": b"\x89PNG but not really",
    }
    answer = imported(client, alice, zip_of(files))
    assert answer["imported"] == 1
    assert "image refused" in reasons(answer)["posts/pic.png"]
    assert "](pic.png)" in my_posts(client, alice)["Broken picture"]["content"]


def test_partial_failure_imports_the_rest_and_reports_each_item(client, alice):
    files = {
        "posts/good.md": "---\ntitle: Good\ntags: [fine, '!!!']\n---\nFine.\n",
        "posts/long.md": f"---\ntitle: {'x' * 101}\n---\nToo long a title.\n",
        "posts/bad-yaml.md": "---\ntitle: [unclosed\n---\nBody\n",
        "posts/empty.md": "---\ntitle: Nothing here\n---\n\n",
        "posts/status.md": "---\ntitle: Odd\nstatus: maybe\n---\nBody\n",
        "posts/toml.md": '+++\ntitle = "Hugo TOML"\n+++\nBody\n',
        "posts/too-many-tags.md": "---\ntitle: Tagged\ntags: a,b,c,d,e,f,g,h,i,j\n---\nBody\n",
    }
    answer = imported(client, alice, zip_of(files))
    assert answer["imported"] == 2
    why = {item["file"]: [] for item in answer["skipped"]}
    for item in answer["skipped"]:
        why[item["file"]].append(item["reason"])
    assert set(why) == {
        "posts/good.md",
        "posts/long.md",
        "posts/bad-yaml.md",
        "posts/empty.md",
        "posts/status.md",
        "posts/toml.md",
        "posts/too-many-tags.md",
    }
    assert "title longer than 100" in why["posts/long.md"][0]
    assert "not valid YAML" in why["posts/bad-yaml.md"][0]
    assert why["posts/empty.md"] == ["no content"]
    assert "tag dropped" in why["posts/good.md"][0]
    assert "i, j" in why["posts/too-many-tags.md"][0]
    posts = my_posts(client, alice)
    assert set(posts) == {"Good", "Tagged"}
    assert posts["Good"]["tags"] == ["fine"]
    assert len(posts["Tagged"]["tags"]) == 8


def test_a_yaml_object_tag_is_refused_not_built(client, alice, tmp_path):
    marker = tmp_path / "pwned"
    text = (f"---\ntitle: !!python/object/apply:os.system ['touch {marker}']\n---\nBody\n").encode()
    answer = imported(client, alice, text, "evil.md")
    assert answer["imported"] == 0
    assert "not valid YAML" in reasons(answer)["evil.md"]
    assert not marker.exists()
    assert my_posts(client, alice) == {}


def test_non_utf8_files_are_skipped(client, alice):
    files = {"posts/latin1.md": "---\ntitle: Café\n---\nÉté\n".encode("latin-1")}
    answer = imported(client, alice, zip_of(files))
    assert answer == {
        "imported": 0,
        "skipped": [{"file": "posts/latin1.md", "reason": "not UTF-8 text"}],
    }
    answer = imported(client, alice, b"\xff\xfe\x00bad", "single.md")
    assert reasons(answer) == {"single.md": "not UTF-8 text"}


def test_unsafe_names_and_links_are_skipped(client, alice):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("posts/ok.md", "---\ntitle: Safe\n---\nBody\n")
        archive.writestr("../escape.md", "---\ntitle: Escape\n---\nBody\n")
        archive.writestr("posts/../../up.md", "---\ntitle: Up\n---\nBody\n")
        archive.writestr("/etc/absolute.md", "---\ntitle: Absolute\n---\nBody\n")
        archive.writestr("C:/windows.md", "---\ntitle: Drive\n---\nBody\n")
        archive.writestr("posts\\back.md", "---\ntitle: Backslash\n---\nBody\n")
        link = zipfile.ZipInfo("posts/link.md")
        link.create_system = 3
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    answer = imported(client, alice, out.getvalue())
    assert answer["imported"] == 1
    why = reasons(answer)
    assert "'..'" in why["../escape.md"]
    assert "'..'" in why["posts/../../up.md"]
    assert "absolute" in why["/etc/absolute.md"]
    assert "absolute" in why["C:/windows.md"]
    assert "backslash" in why["posts\\back.md"]
    assert "links" in why["posts/link.md"]
    assert set(my_posts(client, alice)) == {"Safe"}


def zeros_zip(sizes: dict[str, int]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, size in sizes.items():
            with archive.open(name, "w", force_zip64=True) as entry:
                for _ in range(size // MIB):
                    entry.write(bytes(MIB))
    return out.getvalue()


def test_a_zip_bomb_by_ratio_is_skipped_unread(client, alice):
    data = zeros_zip({"posts/bomb.md": 20 * MIB, "media/bomb.png": 8 * MIB})
    assert len(data) < MIB
    answer = imported(client, alice, data)
    assert answer["imported"] == 0
    why = reasons(answer)
    assert "zip bomb" in why["posts/bomb.md"]
    assert "zip bomb" in why["media/bomb.png"]


def test_an_archive_declaring_too_much_uncompressed_is_refused(client, alice):
    data = zeros_zip({"a.bin": 120 * MIB, "b.bin": 120 * MIB})
    response = send(client, alice, data)
    assert response.status_code == 413
    assert response.json()["code"] == "import_too_large"


def lying(data: bytes, name: bytes, actual: int, declared: int) -> bytes:
    """`data` with the sizes of entry `name` rewritten from `actual` to `declared`, in
    its local header and in the central directory."""
    patched = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = patched.find(signature)
        while at >= 0:
            name_at = at + (30 if signature == b"PK\x03\x04" else 46)
            if patched[name_at : name_at + len(name)] == name:
                assert int.from_bytes(patched[at + offset : at + offset + 4], "little") == actual
                patched[at + offset : at + offset + 4] = declared.to_bytes(4, "little")
            at = patched.find(signature, at + 1)
    return bytes(patched)


def test_an_entry_whose_header_lies_about_its_size_is_not_inflated(client, alice):
    body = "---\ntitle: Liar\n---\n" + "words " * 200_000  # 1.2 MB, well compressed
    data = zip_of({"posts/liar.md": body, "posts/fine.md": "---\ntitle: Fine\n---\nok\n"})
    data = lying(data, b"posts/liar.md", len(body), 100)
    answer = imported(client, alice, data)
    assert answer["imported"] == 1
    assert "posts/liar.md" in reasons(answer)
    assert set(my_posts(client, alice)) == {"Fine"}


def test_the_budget_counts_the_bytes_that_really_come_out():
    """Past the declared size, zipfile itself stops; the budget stops what it lets through."""
    data = zip_of({"a.md": "x" * 10_000})
    archive = zipfile.ZipFile(io.BytesIO(data))
    budget = importing.Budget(5_000)
    assert "inflates" in budget.read(archive, archive.getinfo("a.md"), cap=100_000)
    assert importing.Budget(20_000).read(archive, archive.getinfo("a.md"), cap=100_000) == (
        b"x" * 10_000
    )


def test_too_many_entries_are_refused_before_parsing(client, alice):
    data = zip_of({f"posts/{number}.md": "x" for number in range(importing.MAX_ENTRIES + 1)})
    response = send(client, alice, data)
    assert response.status_code == 413
    assert response.json()["code"] == "import_too_many_entries"
    assert my_posts(client, alice) == {}


def test_an_upload_over_50_mib_is_refused(client, alice):
    response = send(client, alice, bytes(51 * MIB))
    assert response.status_code == 413
    assert response.json()["code"] == "request_too_large"


def test_neither_zip_nor_markdown_is_refused(client, alice):
    response = send(client, alice, b"just text", "notes.txt")
    assert response.status_code == 415
    assert response.json()["code"] == "import_unsupported_file"
    response = send(client, alice, b"PK\x03\x04 broken beyond repair", "broken.zip")
    assert response.status_code == 422
    assert response.json()["code"] == "import_invalid_archive"


def test_a_markdown_file_over_the_cap_is_skipped(client, alice):
    answer = imported(client, alice, b"x" * (importing.MAX_POST_FILE_BYTES + 1), "huge.md")
    assert answer["imported"] == 0
    assert "larger than" in reasons(answer)["huge.md"]


@pytest.mark.settings(posts_per_hour=2)
def test_an_import_is_outside_posts_per_hour(client, alice):
    files = {f"posts/{number}.md": f"# Post {number}\n\nText.\n" for number in range(5)}
    answer = imported(client, alice, zip_of(files))
    assert answer == {"imported": 5, "skipped": []}
    assert len(my_posts(client, alice)) == 5
    # Nor did it spend the hour's posts.
    for number in range(2):
        response = client.post(
            "/api/posts", json={"title": f"New {number}", "content": "x"}, headers=alice.headers
        )
        assert response.status_code == 201, response.text


def test_one_import_brings_at_most_max_import_posts(client, alice, monkeypatch):
    monkeypatch.setattr(importing, "MAX_IMPORT_POSTS", 2)
    files = {f"posts/{number}.md": f"# Post {number}\n\nText.\n" for number in range(4)}
    answer = imported(client, alice, zip_of(files))
    assert answer["imported"] == 2
    assert set(reasons(answer)) == {"posts/2.md", "posts/3.md"}
    assert "at most 2 posts" in reasons(answer)["posts/3.md"]
    assert set(my_posts(client, alice)) == {"Post 0", "Post 1"}


@pytest.mark.settings(media_quota_mib=0.00001)
def test_an_image_over_the_quota_is_reported_and_its_reference_kept(client, alice):
    files = {
        "posts/a.md": "---\ntitle: Over quota\n---\n![big](big.png)\n",
        "posts/big.png": png(300, 200, "purple"),
    }
    answer = imported(client, alice, zip_of(files))
    assert answer["imported"] == 1
    assert "quota" in reasons(answer)["posts/big.png"]
    assert "](big.png)" in my_posts(client, alice)["Over quota"]["content"]
    assert scalar(client, select(MediaImage.name).where(MediaImage.user_id == alice.id)) is None


def test_a_single_file_brings_no_images_and_says_so(client, alice):
    answer = imported(client, alice, b"# Pic\n\n![x](images/a.png)\n", "pic.md")
    assert answer["imported"] == 1
    assert "single .md brings no images" in reasons(answer)["pic.md"]


@pytest.mark.settings(imports_per_hour=2)
def test_imports_are_rate_limited_per_account(client, alice, bob):
    for _ in range(2):
        imported(client, alice, b"# Hi\n\nthere\n", "hi.md")
    response = send(client, alice, b"# Hi\n\nthere\n", "hi.md")
    assert response.status_code == 429
    assert response.json()["code"] == "import_limit"
    assert int(response.headers["Retry-After"]) > 0
    # Another account has its own.
    imported(client, bob, b"# Hi\n\nthere\n", "hi.md")


def test_import_needs_a_signed_in_account(client):
    response = client.post(IMPORT, files={"file": ("a.md", b"# Hi\n\nx", "text/markdown")})
    assert response.status_code == 401
