"""Search (content/search.py): the index kept exact by the database on every write, the
query language, ranking, snippets, paging and the /search page, on SQLite and (with
TEST_DATABASE_URL) PostgreSQL alike."""

import importlib.util
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql

from content.search import (
    MAX_RESULTS,
    SearchQuery,
    Term,
    _ranked,
    decode_offset,
    encode_offset,
    fold,
    fts5_match,
    parse_query,
    snippet,
)
from errors.domain import DomainError
from models import Post
from tests.databases import TEST_DATABASE_URL
from tests.helpers import create_post, run_sql, scalar


def titles(client, q: str, **params) -> list[str]:
    response = client.get("/api/search", params={"q": q, **params})
    assert response.status_code == 200, response.text
    return [item["title"] for item in response.json()["items"]]


# --- The query language, parsed without a database.


@pytest.mark.parametrize(
    ("query", "groups", "excluded"),
    [
        ("cat dog", [[("cat",)], [("dog",)]], []),
        ('"big cat" dog', [[("big", "cat")], [("dog",)]], []),
        ("cat -dog", [[("cat",)]], [("dog",)]),
        ('cat -"hot dog"', [[("cat",)]], [("hot", "dog")]),
        ("cat or dog", [[("cat",), ("dog",)]], []),
        ("cat OR dog bird", [[("cat",), ("dog",)], [("bird",)]], []),
        ("or cat or", [[("cat",)]], []),
        ("e-mail", [[("e", "mail")]], []),
        ('"unbalanced quote', [[("unbalanced", "quote")]], []),
        ("NEAR(a b) c*:d", [[("NEAR", "a")], [("b",)], [("c", "d")]], []),
        ("well-known -", [[("well", "known")]], []),
    ],
)
def test_queries_are_parsed_into_terms(query, groups, excluded):
    parsed = parse_query(query)
    assert [[term.words for term in group] for group in parsed.groups] == groups
    assert [term.words for term in parsed.excluded] == excluded


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("", "search_query_empty"),
        ("  -cat ", "search_query_empty"),
        ('"" * :', "search_query_empty"),
        ("x" * 10_000, "search_query_too_long"),
        ("a " * 20, "search_query_too_long"),
    ],
)
def test_queries_that_find_nothing_or_are_too_long_are_refused(query, code):
    with pytest.raises(DomainError) as refused:
        parse_query(query)
    assert (refused.value.status_code, refused.value.code) == (422, code)


def test_the_fts5_expression_quotes_every_word():
    query = SearchQuery([[Term(("near",)), Term(("a", "b"))], [Term(("c",))]], [Term(("d",))])
    assert fts5_match(query) == '(("near" OR "a b") AND ("c")) NOT "d"'


def test_snippets_escape_everything_but_marks():
    text = 'Use <script>alert(1)</script> & <mark>x</mark> with care: Script "ok"'
    html = snippet(text, {"script"})
    assert "<script>" not in html
    assert "<mark>x</mark>" not in html
    assert html.count("<mark>") == 3
    assert "&lt;<mark>script</mark>&gt;alert(1)" in html
    assert re.sub(r"</?mark>", "", html).count("<") == 0


def test_a_snippet_starts_near_the_first_match_of_a_long_text():
    text = "filler " * 100 + "needle here " + "more " * 100
    html = snippet(text, {"needle"})
    assert html.startswith("…")
    assert html.endswith("…")
    assert "<mark>needle</mark>" in html
    assert len(html) < 300


def test_cursors_belong_to_one_query():
    cursor = encode_offset("cats", 10)
    assert decode_offset("cats", cursor) == 10
    for query, bad in (("dogs", cursor), ("cats", cursor[:-2] + "AA"), ("cats", "nonsense")):
        with pytest.raises(DomainError) as refused:
            decode_offset(query, bad)
        assert refused.value.code == "invalid_cursor"
    with pytest.raises(DomainError):
        decode_offset("cats", encode_offset("cats", MAX_RESULTS))


# --- Through the API, on the test's database.


def test_a_title_match_ranks_above_a_body_match(client, alice):
    create_post(client, alice, "Gardening notes", "All about the humble teapot and more.")
    create_post(client, alice, "The teapot", "Notes on gardening.")
    create_post(client, alice, "Unrelated", "Nothing here.")
    assert titles(client, "teapot") == ["The teapot", "Gardening notes"]
    # Equal relevance: the newest first.
    assert titles(client, "notes")[0] == "Gardening notes"


def test_phrase_exclusion_and_or(client, alice):
    create_post(client, alice, "One", "the quick brown fox jumps")
    create_post(client, alice, "Two", "brown quick fox, slowly")
    create_post(client, alice, "Three", "a lazy dog sleeps")
    assert titles(client, '"quick brown"') == ["One"]
    assert sorted(titles(client, "quick brown")) == ["One", "Two"]
    assert titles(client, "fox -slowly") == ["One"]
    assert titles(client, 'fox -"quick brown"') == ["Two"]
    assert sorted(titles(client, "jumps or dog")) == ["One", "Three"]
    assert sorted(titles(client, "sleeps OR slowly brown")) == ["Two"]


def test_accented_and_plain_spellings_find_each_other(client, alice):
    create_post(client, alice, "Café society", "A crème brûlée at the naïve résumé.")
    create_post(client, alice, "Plain cafe", "creme brulee, naive resume")
    assert sorted(titles(client, "cafe")) == ["Café society", "Plain cafe"]
    assert sorted(titles(client, "Café")) == ["Café society", "Plain cafe"]
    assert sorted(titles(client, '"CRÈME brulee"')) == ["Café society", "Plain cafe"]
    assert sorted(titles(client, "résumé")) == ["Café society", "Plain cafe"]


def test_the_snippet_marks_the_words_and_escapes_the_rest(client, alice):
    content = "Never `<script>alert(1)</script>` nor <mark>fake</mark> in a snippet"
    create_post(client, alice, "Escaping", content)
    [item] = client.get("/api/search", params={"q": "script fake"}).json()["items"]
    html = item["snippet"]
    assert "<mark>script</mark>" in html
    assert "&lt;mark&gt;<mark>fake</mark>&lt;/mark&gt;" in html
    assert "<script>" not in html
    assert re.sub(r"</?mark>", "", html).count("<") == 0
    assert {"id", "title", "content", "author", "url", "status"} <= item.keys()


def test_drafts_and_scheduled_posts_are_never_found(client, alice):
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    draft = create_post(client, alice, "Secret draft", "zebra", status="draft")
    create_post(client, alice, "Secret plan", "zebra", publish_at=later)
    assert titles(client, "zebra") == []
    client.patch(f"/api/posts/{draft['id']}", json={"status": "published"}, headers=alice.headers)
    assert titles(client, "zebra") == ["Secret draft"]
    client.patch(f"/api/posts/{draft['id']}", json={"status": "draft"}, headers=alice.headers)
    assert titles(client, "zebra") == []


def test_edits_and_deletes_show_at_once(client, alice):
    post = create_post(client, alice, "Walrus", "tusks and whiskers")
    url = f"/api/posts/{post['id']}"
    client.patch(url, json={"content": "flippers only"}, headers=alice.headers)
    assert titles(client, "tusks") == []
    assert titles(client, "flippers") == ["Walrus"]
    client.patch(url, json={"title": "Seal"}, headers=alice.headers)
    assert titles(client, "walrus") == []
    assert titles(client, "seal") == ["Seal"]
    assert client.delete(url, headers=alice.headers).status_code == 204
    assert titles(client, "flippers") == []


def test_deleting_an_account_takes_its_posts_out_of_search(client, alice):
    create_post(client, alice, "Marmot", "alpine")
    assert client.delete(f"/api/users/{alice.id}", headers=alice.headers).status_code == 204
    assert titles(client, "marmot") == []


def test_results_are_paged_with_a_signed_cursor(client, alice):
    for n in range(7):
        create_post(client, alice, f"Otter {n}", "otters everywhere")
    seen: list[str] = []
    cursor = None
    while True:
        params = {"q": "otter", "limit": 3} | ({"cursor": cursor} if cursor else {})
        body = client.get("/api/search", params=params).json()
        seen += [item["title"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == [f"Otter {n}" for n in range(7)]
    assert len(seen) == 7
    assert seen[0] == "Otter 6"  # the title match ties: newest first
    other = client.get("/api/search", params={"q": "otters", "cursor": encode_offset("x", 3)})
    assert (other.status_code, other.json()["code"]) == (400, "invalid_cursor")
    listing = client.get("/api/posts", params={"limit": 1}).json()["next_cursor"]
    refused = client.get("/api/search", params={"q": "otter", "cursor": listing})
    assert refused.status_code == 400


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"q": ""}, "search_query_empty"),
        ({"q": "x" * 10_000}, "search_query_too_long"),
        ({"q": "cat", "limit": 0}, "validation_error"),
        ({"q": "cat", "limit": 101}, "validation_error"),
        ({}, "validation_error"),
    ],
)
def test_bad_requests_are_clear_4xx(client, params, code):
    response = client.get("/api/search", params=params)
    assert response.status_code == 422
    assert response.json()["code"] == code


NASTY = [
    'NEAR("a" "b", 2)',
    "a AND OR NOT b",
    "title:foo",
    "* ^ : + - ( ) { } [ ]",
    '"""',
    "((((",
    "a\x00b\x1b\x7fc",
    "'; DROP TABLE posts; --",
    "!(a) & b | c <-> d",
    "\\' \\\\ '",
    "½ ² ǅ ﬁ ß ÆØ",
]


@pytest.mark.parametrize("query", NASTY)
def test_hostile_queries_get_an_answer(client, alice, query):
    create_post(client, alice, "Near and far", "a b c d foo ½ ² ﬁ ß")
    response = client.get("/api/search", params={"q": query})
    assert response.status_code in (200, 422), response.text


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    query=st.text(
        alphabet=st.one_of(
            st.sampled_from(list("\"-*:^()[]{}+ ORANDNOTNEARor\\'!&|<>")),
            st.characters(blacklist_categories=["Cs"]),
        ),
        max_size=60,
    )
)
def test_any_query_gets_a_result_or_a_clear_refusal(client, alice, query):
    response = client.get("/api/search", params={"q": query})
    assert response.status_code in (200, 422), (query, response.text)
    if response.status_code == 422:
        assert response.json()["code"] in ("search_query_empty", "search_query_too_long")


def test_the_index_is_written_with_the_post(client, alice):
    """Rows written straight to the table (no app code) are indexed too: the triggers
    (SQLite) or the generated column (PostgreSQL) do it, not the app."""
    post = create_post(client, alice, "Original", "words")
    run_sql(client, "UPDATE posts SET title = 'Platypus' WHERE id = :id", id=post["id"])
    assert titles(client, "platypus") == ["Platypus"]
    run_sql(client, "UPDATE posts SET search_text = 'echidna' WHERE id = :id", id=post["id"])
    assert titles(client, "echidna") == ["Platypus"]
    assert titles(client, "words") == []
    assert Post.__tablename__ == "posts"


postgresql_only = pytest.mark.skipif(not TEST_DATABASE_URL, reason="PostgreSQL's planner")


def explain(client, query_text: str) -> str:
    """PostgreSQL's plan for the search of `query_text`, as the app sends it."""
    query = parse_query(query_text)
    ranked, _ = _ranked(query, 11, 0, postgresql=True)
    statement = select(ranked.c.id).compile(
        dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}
    )

    async def plan() -> str:
        async with client.app_state["sessionmaker"]() as session:
            rows = await session.execute(text(f"EXPLAIN {statement}"))
            return "\n".join(row[0] for row in rows)

    return client.portal.call(plan)


@postgresql_only
def test_postgresql_finds_even_a_common_word_through_the_gin_index(client, alice):
    """The query is an InitPlan the planner cannot size, so it takes the index for a word
    in every post too (a sequential scan ranked 5,000 matches 30% slower; README)."""
    user_id = client.get("/api/users/me", headers=alice.headers).json()["id"]
    run_sql(
        client,
        "INSERT INTO posts (title, content, content_html, search_text, status, slug, "
        "slug_fixed, user_id, date_posted, changed_at, reading_minutes) "
        "SELECT 'Heron ' || n, t, '<p>' || t || '</p>', t, 'published', 'heron-' || n, "
        "true, :user_id, now(), now(), 1 FROM generate_series(1, 3000) AS n, "
        "repeat('A grey heron stands in the river at dawn. ', 20) AS t",
        user_id=user_id,
    )
    run_sql(client, "ANALYZE posts")
    plan = explain(client, "heron")
    assert "Bitmap Index Scan on ix_posts_search_vector" in plan
    assert "Seq Scan on posts" not in plan


@postgresql_only
def test_postgresql_keeps_the_vectors_in_the_rows(client):
    """Migration 0014: ranking reads each match's vector, which TOAST would fetch
    one index lookup at a time."""
    storage = scalar(
        client,
        text(
            "SELECT attstorage FROM pg_attribute "
            "WHERE attrelid = 'posts'::regclass AND attname = 'search_vector'"
        ),
    )
    assert storage == "m"


# --- The /search page.


def test_the_search_page_shows_results_with_marks_and_pages_them(client, alice):
    for n in range(12):
        create_post(client, alice, f"Heron {n}", f"A <grey> heron, number {n}.")
    page = client.get("/search", params={"q": "heron"})
    assert page.status_code == 200
    html = page.text
    assert '<meta name="robots" content="noindex">' in html
    assert 'value="heron"' in html
    assert html.count('class="card post-card search-result"') == 10
    assert "<mark>heron</mark>" in html
    assert "&lt;grey&gt;" in html
    more = re.search(r'id="older-posts" rel="next" href="([^"]+)">More results', html)
    assert more is not None
    second = client.get(more.group(1).replace("&amp;", "&"))
    assert second.text.count("search-result") == 2
    assert "More results" not in second.text


def test_the_search_page_says_when_nothing_matched_or_the_query_is_wrong(client, alice):
    nothing = client.get("/search", params={"q": "<b>unicorn</b>"})
    assert nothing.status_code == 200
    assert "No posts match “&lt;b&gt;unicorn&lt;/b&gt;”." in nothing.text
    empty = client.get("/search")
    assert empty.status_code == 200
    assert "search-result" not in empty.text
    too_long = client.get("/search", params={"q": "x" * 300})
    assert too_long.status_code == 422
    assert "at most 200 characters" in too_long.text
    assert client.get("/search", params={"q": "x", "cursor": "bad"}).status_code == 400


def test_every_page_has_the_search_field(client, alice):
    post = create_post(client, alice)
    for path in ("/", post["url"], "/login", f"/users/{alice.id}/posts"):
        html = client.get(path).text
        assert 'action="/search" method="get"' in html
        assert 'for="site-search-input"' in html


def _migration_0012():
    """The search migration's module (its file name is not an importable name)."""
    path = next(Path(__file__).parent.parent.glob("migrations/versions/*_0012_search.py"))
    spec = importlib.util.spec_from_file_location("migration_0012", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_fallback_accent_table_folds_latin_letters_one_for_one():
    """Without the `unaccent` extension, PostgreSQL folds accents through `translate`
    over this table: each letter whose accent Unicode can take off (NFKD), one for one.
    Letters with no decomposition (Ł, Ø, Æ) stay as they are, where `unaccent` folds
    them (README, "Search")."""
    accented, bare = _migration_0012()._accent_table()
    assert len(accented) == len(bare) > 100
    assert all(fold(a) == b.casefold() for a, b in zip(accented, bare, strict=True))
    table = str.maketrans(accented, bare)
    assert "Crème Brûlée à Łódź, Ångström, São Tomé".translate(table) == (
        "Creme Brulee a Łodz, Angstrom, Sao Tome"
    )


@postgresql_only
def test_the_fallback_folds_as_unaccent_does(client):
    """The two ways inkwell_unaccent can be made agree on accents that decompose."""
    accented, bare = _migration_0012()._accent_table()
    words = "Crème Brûlée Ångström São Tomé naïve façade Dvořák Köln Ñandú"
    folded = scalar(
        client,
        text("SELECT translate(:words, :accented, :bare)").bindparams(
            words=words, accented=accented, bare=bare
        ),
    )
    unaccented = scalar(client, text("SELECT unaccent(:words)").bindparams(words=words))
    assert folded == unaccented == "Creme Brulee Angstrom Sao Tome naive facade Dvorak Koln Nandu"
