"""Full-text search over published posts, the same on SQLite and PostgreSQL.

The index is the database's own, kept by it in the same transaction as every write of
`posts` (migration 0012): FTS5's `posts_fts` on SQLite, the generated `search_vector`
column with a GIN index on PostgreSQL. Both hold a post's title (weighing more) and its
`search_text` (the words a reader sees), and only while the post is published.

A query is web-search syntax, parsed here and never handed to either engine as text:
words (all must match), `"exact phrase"`, `-excluded` (a word or a phrase), and `or`
between two terms. A word with punctuation inside ("e-mail", "example.com") is the
phrase of its words, as both engines split it. Every word of the structure becomes a
double-quoted FTS5 string (no FTS5 operator from the reader ever reaches FTS5) or a
bound parameter of PostgreSQL's `phraseto_tsquery` (tsquery syntax never comes from the
reader either).

Results are ranked by relevance (FTS5's bm25 with the title weighing 10 to the text's
1; `ts_rank_cd` with weights A and B), then newest first. Pages are an offset inside a
signed cursor, bound to the query and to the first MAX_RESULTS results: relevance is a
float no keyset can resume from exactly, and nobody reads past page 100 of a search.
"""

import hashlib
import html
import re
import unicodedata
from dataclasses import dataclass, field
from typing import NamedTuple

from fastapi import status
from sqlalchemy import (
    ColumnElement,
    Float,
    Integer,
    Subquery,
    bindparam,
    func,
    literal_column,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer, joinedload

from content.pagination import BAD_CURSOR, sign_payload, signed_payload
from content.visibility import ON_SITE_SQL, on_site
from database import is_postgresql
from errors.domain import DomainError
from models import Post

QUERY_MAX_LENGTH = 200
MAX_TERMS = 16
MAX_RESULTS = 1000
SNIPPET_LENGTH = 240
TITLE_WEIGHT, TEXT_WEIGHT = 10.0, 1.0

# A word as both indexes see it: letters and digits of any script (FTS5's unicode61
# token characters, PostgreSQL's [:alnum:] after inkwell_search_words).
WORD = re.compile(r"[^\W_]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_QUOTE = re.compile(r'"([^"]*)"?')


def fold(word: str) -> str:
    """A word without accents or case, for finding it in a snippet."""
    if word.isascii():  # most words: nothing to decompose (4x faster per snippet)
        return word.lower()
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


class Term(NamedTuple):
    """One word, or the phrase of several words in that order."""

    words: tuple[str, ...]


@dataclass
class SearchQuery:
    # Every group must match; a group matches when any of its terms does ("or").
    groups: list[list[Term]] = field(default_factory=list)
    excluded: list[Term] = field(default_factory=list)

    def words(self) -> set[str]:
        """The folded words a result was found by, for its snippet's marks."""
        return {fold(word) for group in self.groups for term in group for word in term.words}


def _refused(code: str, detail: str) -> DomainError:
    return DomainError(status.HTTP_422_UNPROCESSABLE_CONTENT, code, detail)


def _chunks(query: str) -> list[tuple[str, bool]]:
    """The query cut into (text, quoted) pieces, a "-" kept on the piece it leads."""
    pieces: list[tuple[str, bool]] = []
    position = 0
    for match in _QUOTE.finditer(query):
        before = query[position : match.start()]
        excluded = before.endswith("-") and (len(before) == 1 or before[-2].isspace())
        pieces.extend((chunk, False) for chunk in before[: -1 if excluded else None].split())
        pieces.append((("-" if excluded else "") + match.group(1), True))
        position = match.end()
    pieces.extend((chunk, False) for chunk in query[position:].split())
    return pieces


def parse_query(query: str) -> SearchQuery:
    """The query's structure; DomainError (422) if it is too long or finds nothing."""
    if len(query) > QUERY_MAX_LENGTH:
        raise _refused(
            "search_query_too_long", f"A search is at most {QUERY_MAX_LENGTH} characters"
        )
    query = unicodedata.normalize("NFKC", _CONTROL.sub(" ", query))
    parsed = SearchQuery()
    pending_or = False
    count = 0
    for chunk, quoted in _chunks(query):
        excluded = chunk.startswith("-") and (quoted or len(chunk) > 1)
        if excluded:
            chunk = chunk[1:]
        if not quoted and not excluded and chunk.casefold() == "or":
            pending_or = bool(parsed.groups)
            continue
        words = tuple(WORD.findall(chunk))
        if not words:
            continue
        count += 1
        if count > MAX_TERMS:
            raise _refused("search_query_too_long", f"A search has at most {MAX_TERMS} terms")
        term = Term(words)
        if excluded:
            parsed.excluded.append(term)
        elif pending_or:
            parsed.groups[-1].append(term)
        else:
            parsed.groups.append([term])
        pending_or = False
    if not parsed.groups:
        raise _refused(
            "search_query_empty", "Search for at least one word (not only excluded ones)"
        )
    return parsed


def fts5_match(query: SearchQuery) -> str:
    """The FTS5 MATCH expression: each term a double-quoted string of plain words."""

    def quoted(term: Term) -> str:
        return '"' + " ".join(term.words) + '"'

    match = " AND ".join(
        "(" + " OR ".join(quoted(term) for term in group) + ")" for group in query.groups
    )
    for term in query.excluded:
        match = f"({match}) NOT {quoted(term)}"
    return match


def tsquery(query: SearchQuery) -> ColumnElement[object]:
    """The PostgreSQL tsquery, built from bound parameters (the words are never SQL)."""
    counter = iter(range(2 * MAX_TERMS + 2))

    def phrase(term: Term) -> ColumnElement[object]:
        value: ColumnElement[str] = bindparam(f"term_{next(counter)}", " ".join(term.words))
        return func.phraseto_tsquery(
            literal_column("'simple'::regconfig"), func.inkwell_search_words(value)
        )

    def any_of(group: list[Term]) -> ColumnElement[object]:
        combined = phrase(group[0])
        for term in group[1:]:
            combined = func.tsquery_or(combined, phrase(term))
        return combined

    result = any_of(query.groups[0])
    for group in query.groups[1:]:
        result = func.tsquery_and(result, any_of(group))
    for term in query.excluded:
        result = func.tsquery_and(result, func.tsquery_not(phrase(term)))
    return result


# --- Cursors: an offset into one query's results, signed (content/pagination.py's key).


def _query_digest(query: str) -> str:
    return hashlib.sha256(query.encode()).hexdigest()[:12]


def encode_offset(query: str, offset: int) -> str:
    return sign_payload(f"s.{offset}.{_query_digest(query)}".encode())


def decode_offset(query: str, cursor: str | None) -> int:
    """The offset a cursor of this query names (0 without one); 400 otherwise."""
    if cursor is None:
        return 0
    try:
        kind, offset, digest = signed_payload(cursor).decode().split(".")
        if kind != "s" or digest != _query_digest(query):
            raise ValueError("another query's cursor")
        number = int(offset)
    except (ValueError, UnicodeDecodeError):
        raise DomainError(status.HTTP_400_BAD_REQUEST, "invalid_cursor", BAD_CURSOR) from None
    if not 0 < number < MAX_RESULTS:
        raise DomainError(status.HTTP_400_BAD_REQUEST, "invalid_cursor", BAD_CURSOR)
    return number


# --- Snippets.


def snippet(text_: str, words: set[str], length: int = SNIPPET_LENGTH) -> str:
    """About `length` characters of `text_` around its first matched word, as HTML in
    which only `<mark>` is markup: every matched word marked, everything else escaped."""
    # Only as far as the first match, then only the window: a long post costs no more.
    first = next((m for m in WORD.finditer(text_) if fold(m.group()) in words), None)
    start = 0
    if first is not None and first.end() > length:
        start = max(0, first.start() - length // 3)
        space = text_.find(" ", start)
        start = space + 1 if 0 <= space < first.start() else start
    end = min(len(text_), start + length)
    if end < len(text_):
        space = text_.rfind(" ", start, end + 1)
        end = space if space > start else end
    parts = ["…"] if start > 0 else []
    position = start
    for match in WORD.finditer(text_, start):
        if match.end() > end:
            break
        if fold(match.group()) not in words:
            continue
        parts.append(html.escape(text_[position : match.start()]))
        parts.append(f"<mark>{html.escape(match.group())}</mark>")
        position = match.end()
    parts.append(html.escape(text_[position:end]))
    if end < len(text_):
        parts.append("…")
    return "".join(parts)


class SearchResult(NamedTuple):
    post: Post
    snippet: str


class PageOfResults(NamedTuple):
    results: list[SearchResult]
    next_cursor: str | None


# Only constants go into the text; the MATCH expression is a bound parameter.
_SQLITE_RANKED = (
    text(
        "SELECT posts.id AS id, "  # noqa: S608
        f"bm25(posts_fts, {TITLE_WEIGHT}, {TEXT_WEIGHT}) AS rank FROM posts_fts "
        # Covering (models.py): without it SQLite reads each match's whole row.
        "JOIN posts INDEXED BY ix_posts_id_status_date_posted_author_suspended "
        "ON posts.id = posts_fts.rowid "
        f"WHERE posts_fts MATCH :match AND {ON_SITE_SQL} "
        "ORDER BY rank, posts.date_posted DESC, posts.id DESC LIMIT :limit OFFSET :offset"
    )
    .columns(id=Integer, rank=Float)
    .subquery("ranked")
)


def _ranked(
    query: SearchQuery, limit: int, offset: int, *, postgresql: bool
) -> tuple[Subquery, dict[str, object]]:
    """The ids of one page of matches and their rank, best first (rank ascending)."""
    if not postgresql:
        return _SQLITE_RANKED, {"match": fts5_match(query), "limit": limit, "offset": offset}
    # Computed once, as an InitPlan. Inline, a prepared statement's generic plan would
    # compute it again for every row, and the planner would size the match by the word
    # and read a common one's 5,000 rows by a sequential scan rather than the GIN index
    # (16 ms against 12 ms for "river" in bench/run.py's 10,000 posts; README "Search").
    matched = select(tsquery(query)).scalar_subquery()
    vector: ColumnElement[object] = literal_column("posts.search_vector")
    # ts_rank_cd grows with relevance; negated, both engines sort best first ascending.
    rank = (-func.ts_rank_cd(vector, matched)).label("rank")
    ranked = (
        select(Post.id, rank)
        .where(on_site(), vector.op("@@")(matched))
        .order_by(rank, Post.date_posted.desc(), Post.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return ranked.subquery("ranked"), {}


async def search_posts(
    session: AsyncSession, query_text: str, limit: int, cursor: str | None
) -> PageOfResults:
    """A page of published posts matching `query_text`, best first, with snippets."""
    query = parse_query(query_text)
    offset = decode_offset(query_text, cursor)
    limit = min(limit, MAX_RESULTS - offset)
    ranked, parameters = _ranked(query, limit + 1, offset, postgresql=is_postgresql(session))
    # One statement: the page's posts, their authors and tags, in the order of rank;
    # not their HTML, which no result shows (a large column, often out of line).
    statement = (
        select(Post)
        .options(
            joinedload(Post.author),
            joinedload(Post.tag_rows),
            defer(Post.content_html, raiseload=True),
        )
        .join(ranked, ranked.c.id == Post.id)
        .order_by(ranked.c.rank, Post.date_posted.desc(), Post.id.desc())
    )
    posts = list((await session.scalars(statement, parameters)).unique())
    more = len(posts) > limit and offset + limit < MAX_RESULTS
    words = query.words()
    results = [SearchResult(post, snippet(post.search_text, words)) for post in posts[:limit]]
    return PageOfResults(results, encode_offset(query_text, offset + limit) if more else None)
