"""Markdown posts: what renders, what never gets through, where the HTML is stored and
shown, the excerpt on cards, the migration that back-filled it, and the preview."""

import re
from html.parser import HTMLParser

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text

from content import markdown_render
from content.markdown_render import ELLIPSIS, EXCERPT_LENGTH, excerpt, plain_text, render_html
from database import alembic_config, sync_url
from models import Post
from tests.databases import fresh_database
from tests.helpers import create_post

# --- Rendering ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("Just words.", "<p>Just words.</p>"),
        ("**strong** and *em*", "<p><strong>strong</strong> and <em>em</em></p>"),
        ("_em_ and __strong__", "<p><em>em</em> and <strong>strong</strong></p>"),
        ("~~gone~~", "<p><s>gone</s></p>"),
        ("`a < b`", "<p><code>a &lt; b</code></p>"),
        ("```\nif a < b:\n    pass\n```", "<pre><code>if a &lt; b:\n    pass\n</code></pre>"),
        ("```python\nx = 1\n```", "<pre><code>x = 1\n</code></pre>"),
        ("    indented code", "<pre><code>indented code\n</code></pre>"),
        ("> quoted", "<blockquote>\n<p>quoted</p>\n</blockquote>"),
        ("- one\n- two", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>"),
        ("1. one\n2. two", "<ol>\n<li>one</li>\n<li>two</li>\n</ol>"),
        ("3. three", '<ol start="3">\n<li>three</li>\n</ol>'),
        ("a\n\n---\n\nb", "<p>a</p>\n<hr>\n<p>b</p>"),
        ("line  \nbreak", "<p>line<br>\nbreak</p>"),
        # Headings go one level down: the post's title is the page's only h1.
        ("# Top", "<h2>Top</h2>"),
        ("## Second", "<h3>Second</h3>"),
        ("###### Sixth", "<h6>Sixth</h6>"),
        ("Setext\n===", "<h2>Setext</h2>"),
        (
            "[site](https://example.com/a?b=1&c=2)",
            '<p><a href="https://example.com/a?b=1&amp;c=2" rel="nofollow noopener">site</a></p>',
        ),
        ('[t](/a "T")', '<p><a href="/a" title="T" rel="nofollow noopener">t</a></p>'),
        ("[home](/posts/1)", '<p><a href="/posts/1" rel="nofollow noopener">home</a></p>'),
        ("[m](mailto:a@e.com)", '<p><a href="mailto:a@e.com" rel="nofollow noopener">m</a></p>'),
        ("<https://e.com>", '<p><a href="https://e.com" rel="nofollow noopener">https://e.com</a></p>'),
        # linkify: bare addresses become links.
        ("www.e.com", '<p><a href="http://www.e.com" rel="nofollow noopener">www.e.com</a></p>'),
        # Images are shown as their alt text (see markdown_render's docstring).
        ("![a *cat*](https://example.com/cat.png)", "<p>a cat</p>"),
        ("![<b>x</b>](https://e.com/x.png)", "<p>&lt;b&gt;x&lt;/b&gt;</p>"),
        ("2 * 3 * 4 and a_b_c", "<p>2 * 3 * 4 and a_b_c</p>"),
    ],
)  # fmt: skip
def test_each_construct_renders(source, expected):
    assert render_html(source).strip() == expected


def test_tables_keep_their_alignment_as_classes_not_styles():
    html = render_html("| a | b | c |\n|:--|:-:|--:|\n| 1 | 2 | 3 |")
    assert "<table>" in html
    assert '<th class="align-left">a</th>' in html
    assert '<th class="align-center">b</th>' in html
    assert '<td class="align-right">3</td>' in html
    assert "style" not in html


# --- What never gets through ----------------------------------------------------------

ALLOWED_TAGS = {
    "p", "br", "hr", "h2", "h3", "h4", "h5", "h6", "strong", "em", "s", "code", "pre",
    "blockquote", "ul", "ol", "li", "a", "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
# A URL's scheme as a browser reads it (WHATWG URL): none means a relative link.
SCHEME = re.compile(r"^([a-z][a-z0-9+.-]*):", re.IGNORECASE)
SAFE_SCHEMES = {"http", "https", "mailto"}


def href_scheme(value: str) -> str | None:
    """What a browser would make of an href: it drops tabs and newlines anywhere and
    control characters and spaces at the ends before it looks for a scheme."""
    cleaned = re.sub(r"[\t\n\r]", "", value).strip("\x00- ")
    match = SCHEME.match(cleaned)
    return match.group(1).lower() if match else None


HOSTILE = [
    "<script>alert(1)</script>",
    "<SCRIPT SRC=//evil.example/x.js></SCRIPT>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(1)">x</a>',
    '<div onclick=alert(1) style="position:fixed">x</div>',
    '<iframe src="https://evil.example"></iframe>',
    "<style>body{display:none}</style>",
    "<svg onload=alert(1)>",
    "<b onmouseover=alert(1)>unclosed",
    "<p",
    "<!-- comment --><script",
    "[x](javascript:alert(1))",
    "[x](JaVaScRiPt:alert(1))",
    "[x](  javascript:alert(1))",
    "[x](&#106;avascript:alert(1))",
    "[x](&#x6A;&#x61;vascript:alert(1))",
    "[x](java&#x09;script:alert(1))",
    "[x](vbscript:msgbox(1))",
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "[x](file:///etc/passwd)",
    "[x][r]\n\n[r]: javascript:alert(1)",
    "<javascript:alert(1)>",
    "<data:text/html,<script>alert(1)</script>>",
    "![x](javascript:alert(1))",
    '![x" onerror="alert(1)](https://e.com/x.png)',
    '[x](https://e.com/"onmouseover="alert(1))',
    '[x](https://e.com/ "a" onclick=alert(1))',
    "javascript:alert(1)",
    "```\n</code></pre><script>alert(1)</script>\n```",
    "`<script>`",
    "> <script>alert(1)</script>",
    "| a |\n|---|\n| <img src=x onerror=alert(1)> |",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
    "&lt;script&gt;alert(1)&lt;/script&gt;",
    "\x3cscript\x3ealert(1)\x3c/script\x3e",
]


class Markup(HTMLParser):
    """The tags and attributes of an HTML fragment, as a browser would see them."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: list[tuple[str, str, str]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(tag, name, value or "") for name, value in attrs]


def assert_safe(html: str) -> None:
    markup = Markup(html)
    assert "<script" not in html.lower()
    assert set(markup.tags) <= ALLOWED_TAGS, markup.tags
    for tag, name, value in markup.attributes:
        assert not name.startswith("on"), (tag, name)
        assert name != "style", (tag, name)
        assert "javascript:" not in value.lower(), (tag, name, value)
        if name == "href":
            assert href_scheme(value) in SAFE_SCHEMES | {None}, value


@pytest.mark.parametrize("source", HOSTILE)
def test_hostile_markdown_renders_to_nothing_that_runs(source):
    html = render_html(source)
    assert_safe(html)
    # Whatever looked like a tag is shown as the author's text, escaped.
    assert "<img" not in html
    assert "<iframe" not in html
    assert "<style" not in html


@pytest.mark.parametrize("source", HOSTILE)
def test_the_sanitiser_alone_stops_raw_html(source):
    """Should the parser ever pass raw HTML through, nh3's allow-list still holds."""
    html = markdown_render._cleaner.clean(source)
    assert_safe(html)
    assert "alert(1)</script>" not in html  # script content is dropped, not kept as text


def test_links_that_would_run_script_are_left_as_text():
    html = render_html("[x](javascript:alert(1)) [y](JaVaScRiPt:alert(1)) [z](data:text/html,x)")
    assert "<a" not in html


def test_every_link_gets_nofollow_noopener():
    html = render_html("[a](https://example.com) <https://b.example> www.c.com [d](/x)")
    rels = [value for _tag, name, value in Markup(html).attributes if name == "rel"]
    assert rels == ["nofollow noopener"] * 4
    assert html.count("<a ") == 4


class Depth(HTMLParser):
    """How deeply the elements of an HTML fragment nest."""

    VOID = frozenset({"br", "hr"})

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.open, self.deepest = 0, 0
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in self.VOID:
            self.open += 1
            self.deepest = max(self.deepest, self.open)

    def handle_endtag(self, tag: str) -> None:
        self.open -= 1


@pytest.mark.parametrize(
    "source",
    ["> " * 5000 + "x", "*" * 20_000, "[" * 10_000, "- " * 5000 + "x"],
    ids=["5000 quotes deep", "20000 stars", "10000 brackets", "5000 lists deep"],
)
def test_deep_nesting_and_long_input_stay_quick_and_bounded(source):
    """Bounded, counted rather than timed: the parser stops nesting at its limit, so the
    work (the tokens it makes) and the page's depth stay small however deep the input
    asks to go, and the HTML is never much longer than the source."""
    html = render_html(source)
    assert_safe(html)
    limit = markdown_render._parser.options["maxNesting"]
    assert limit <= 20
    tokens = markdown_render._parser.parse(source)
    assert len(tokens) + sum(len(token.children or []) for token in tokens) <= 4 * limit
    assert Depth(html).deepest <= limit + 1  # each level one element, plus its text's <p>
    assert len(html) <= len(source) + 64


# --- The excerpt ----------------------------------------------------------------------

MARKDOWN_HEAVY = (
    "# A heading\n\nSome **bold** and *em* words, `code`, a [link](https://e.com), "
    "~~strike~~.\n\n> A quote\n\n- item one\n- item two\n\n```\nx = 1\n```\n\n"
    "| a | b |\n|---|---|\n| 1 | 2 |\n\n&amp; Tom & Jerry"
)


def test_the_excerpt_is_plain_text():
    text, cut = excerpt(render_html(MARKDOWN_HEAVY))
    assert not cut
    assert text == (
        "A heading Some bold and em words, code, a link, strike. A quote item one item two "
        "x = 1 a b 1 2 & Tom & Jerry"
    )
    for symbol in ("**", "# ", "`", "](", "~~", "> ", "- ", "|", "&amp;"):
        assert symbol not in text, symbol


def test_a_long_post_is_cut_at_a_word_boundary():
    words = "alpha beta gamma delta epsilon " * 40
    text, cut = excerpt(render_html(words))
    assert cut
    assert text.endswith(ELLIPSIS)
    assert len(text) <= EXCERPT_LENGTH + 1
    body = text.removesuffix(ELLIPSIS)
    assert words.startswith(body + " ")  # whole words only
    assert len(body) > EXCERPT_LENGTH - 12


def test_one_endless_word_is_cut_where_it_must_be():
    text, cut = excerpt(render_html("x" * 1000))
    assert cut
    assert text == "x" * EXCERPT_LENGTH + ELLIPSIS


def test_plain_text_separates_blocks():
    assert plain_text("<p>one</p><p>two</p><ul><li>three</li></ul>") == "one two three"


# --- Stored, shown, returned ------------------------------------------------------------

SOURCE = "# Heading\n\nSome **bold** text with a [link](https://example.com).\n\n<script>x</script>"


def stored_html(client: TestClient, post_id: int) -> str:
    async def read() -> str:
        async with client.app_state["sessionmaker"]() as session:
            return await session.scalar(select(Post.content_html).where(Post.id == post_id))

    return client.portal.call(read)


def post_content_of(page: str) -> str:
    return page.split('<div class="post-content" id="post-content">', 1)[1].split("</div>\n", 1)[0]


def test_the_api_returns_the_source_unchanged(client, alice):
    post = create_post(client, alice, content=SOURCE)
    assert post["content"] == SOURCE
    assert client.get(f"/api/posts/{post['id']}").json()["content"] == SOURCE
    assert client.get("/api/posts").json()["items"][0]["content"] == SOURCE
    assert "content_html" not in post


def test_html_is_written_on_create_put_and_patch(client, alice):
    post = create_post(client, alice, content="*first*")
    assert stored_html(client, post["id"]) == render_html("*first*")

    replaced = client.put(
        f"/api/posts/{post['id']}",
        json={"title": "T", "content": "**second**"},
        headers=alice.headers,
    )
    assert replaced.status_code == 200
    assert stored_html(client, post["id"]) == "<p><strong>second</strong></p>\n"

    patched = client.patch(
        f"/api/posts/{post['id']}", json={"content": "~~third~~"}, headers=alice.headers
    )
    assert patched.status_code == 200
    assert stored_html(client, post["id"]) == "<p><s>third</s></p>\n"

    # A title-only PATCH leaves the HTML as it was.
    client.patch(f"/api/posts/{post['id']}", json={"title": "New"}, headers=alice.headers)
    assert stored_html(client, post["id"]) == "<p><s>third</s></p>\n"


def test_the_post_page_shows_the_rendered_html(client, alice):
    post = create_post(client, alice, title="My post", content=SOURCE)
    page = client.get(f"/posts/{post['id']}").text
    content = post_content_of(page)
    assert content == render_html(SOURCE)
    assert "<h2>Heading</h2>" in content
    assert "<strong>bold</strong>" in content
    assert '<a href="https://example.com" rel="nofollow noopener">link</a>' in content
    assert "&lt;script&gt;x&lt;/script&gt;" in content
    assert len(re.findall(r"<h1\b", page)) == 1  # the title alone
    # The source is the editor's, fetched through the API: the page carries none.
    assert 'id="post-source"' not in page


def test_an_edit_shows_at_once(client, alice):
    post = create_post(client, alice, content="before")
    assert "<p>before</p>" in client.get(f"/posts/{post['id']}").text
    client.patch(f"/api/posts/{post['id']}", json={"content": "*after*"}, headers=alice.headers)
    assert "<p><em>after</em></p>" in client.get(f"/posts/{post['id']}").text


def cards(page: str) -> list[str]:
    return page.split('<article class="card post-card"')[1:]


def test_cards_show_an_excerpt_and_read_more_only_when_cut(client, alice):
    short = create_post(client, alice, title="Short one", content="Just **a few** words.")
    long_source = "## Long\n\n" + "Many *words* here. " * 40
    long = create_post(client, alice, title="Long one", content=long_source)
    for path in ("/", f"/users/{alice.id}/posts"):
        page = client.get(path).text
        long_card, short_card = cards(page)
        assert f'data-post-id="{long["id"]}"' in long_card
        assert f'data-post-id="{short["id"]}"' in short_card
        assert '<p class="post-excerpt">Just a few words.</p>' in short_card
        assert "read-more" not in short_card
        excerpt_text = long_card.split('<p class="post-excerpt">')[1].split("</p>")[0]
        assert excerpt_text.startswith("Long Many words here.")
        assert excerpt_text.endswith(ELLIPSIS)
        assert "*" not in excerpt_text
        assert "<" not in excerpt_text
        # Its accessible name starts with the words it shows (WCAG 2.5.3).
        assert (
            f'<a class="read-more" href="/posts/{long["id"]}" aria-label="Read more: Long one">'
            'Read more <span aria-hidden="true">→</span></a>'
        ) in long_card


def test_an_excerpt_of_hostile_html_is_escaped_text(client, alice):
    create_post(client, alice, content="<img src=x onerror=alert(1)> **hi**")
    (card,) = cards(client.get("/").text)
    assert '<p class="post-excerpt">&lt;img src=x onerror=alert(1)&gt; hi</p>' in card
    assert "<img src=x" not in card


# --- The migration ------------------------------------------------------------------


def test_migration_0005_back_fills_and_keeps_the_content_triggers(tmp_path, make_app):
    with fresh_database(tmp_path) as database_url:
        engine = create_engine(sync_url(database_url))
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "0004")
            connection.execute(
                text(
                    "INSERT INTO users (username, email, username_key, email_key, "
                    "password_hash, token_version, account_key) "
                    "VALUES ('old', 'old@example.com', 'old', 'old@example.com', 'x', 0, 'k')"
                )
            )
            for content in ("**old** post", "# Title\n\n<script>x</script>"):
                connection.execute(
                    text(
                        "INSERT INTO posts (title, content, date_posted, user_id) "
                        "VALUES ('t', :content, CURRENT_TIMESTAMP, 1)"
                    ),
                    {"content": content},
                )
        with engine.begin() as connection:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
        with engine.begin() as connection:
            rows = connection.execute(text("SELECT content, content_html FROM posts")).all()
            assert [html for _content, html in rows] == [
                "<p><strong>old</strong> post</p>\n",
                "<h2>Title</h2>\n<p>&lt;script&gt;x&lt;/script&gt;</p>\n",
            ]
            # 0004's triggers survived: an edit still bumps the content version.
            version = "SELECT version FROM content_version"
            before = connection.execute(text(version)).scalar_one()
            connection.execute(text("UPDATE posts SET title = 'u' WHERE id = 1"))
            assert connection.execute(text(version)).scalar_one() == before + 1
        engine.dispose()

        with TestClient(make_app(database_url=database_url, auto_migrate=True)) as client:
            posts = client.get("/api/posts").json()["items"]
            post_id = next(p["id"] for p in posts if p["content"] == "**old** post")
            page = client.get(f"/posts/{post_id}").text
            assert "<p><strong>old</strong> post</p>" in page


# --- Preview ------------------------------------------------------------------------


def test_preview_needs_a_token(client):
    response = client.post("/api/posts/preview", json={"content": "*x*"})
    assert response.status_code == 401
    assert response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"content": ""}, "content"),
        ({"content": "   \n "}, "content"),
        ({"content": "x" * 20_001}, "content"),
        ({"content": "bell \x07"}, "content"),
        ({}, "content"),
        ({"content": 5}, "content"),
        ({"content": "x", "author_id": 1}, "author_id"),
    ],
)
def test_preview_refuses_what_a_post_would(client, alice, body, field):
    response = client.post("/api/posts/preview", json=body, headers=alice.headers)
    assert response.status_code == 422
    assert field in str(response.json()["detail"])
    post = client.post("/api/posts", json={"title": "T", **body}, headers=alice.headers)
    assert post.status_code == 422


def test_preview_is_what_the_page_will_show(client, alice):
    response = client.post("/api/posts/preview", json={"content": SOURCE}, headers=alice.headers)
    assert response.status_code == 200
    assert response.json() == {"html": render_html(SOURCE)}
    post = create_post(client, alice, content=SOURCE)
    assert post_content_of(client.get(f"/posts/{post['id']}").text) == response.json()["html"]


def test_preview_is_documented_with_its_errors(client):
    operation = client.get("/openapi.json").json()["paths"]["/api/posts/preview"]["post"]
    assert {"200", "401", "413", "422"} <= set(operation["responses"])
    assert operation["security"]
