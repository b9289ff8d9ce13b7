"""The words in a post's address (`/posts/{id}/{slug}`): readable, stable, never empty.

A slug keeps letters and digits of any script (a Russian or Japanese title stays
readable in the address bar, as WriteFreely and Ghost keep it) in lower case, with
every run of anything else turned into one hyphen. The post's id, not its slug,
finds a post, so two posts may share a slug and an old slug still leads to the post
(routers/pages.py redirects it to the current one).
"""

import unicodedata
from urllib.parse import quote

SLUG_MAX = 80
# What a title with no letters or digits at all ("!!!", "🎉") is called.
FALLBACK_SLUG = "post"
# Slugs that name a page of the post rather than the post (`/posts/{id}/edit` is its
# editor): a title that would give one gets FALLBACK_SLUG after it ("edit-post").
RESERVED_SLUGS = frozenset({"edit"})


def _is_word_character(char: str) -> bool:
    # Letters (L*), digits and other numbers (N*), and the combining marks (M*) that
    # some scripts need to spell a letter (Devanagari, Thai...).
    return unicodedata.category(char)[0] in "LNM"


def slug_words(text: str) -> list[str]:
    """The words of `text` as addresses and tags (content/tags.py) spell them: NFKC,
    case-folded, each a run of letters and digits; everything else separates them."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    words: list[str] = []
    current: list[str] = []
    for char in folded:
        if _is_word_character(char):
            current.append(char)
        elif current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    return words


def slugify(text: str) -> str:
    """`text` as a slug, or "" when nothing of it can be one (no letter or digit)."""
    words = slug_words(text)
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > SLUG_MAX:
            # Cut between words; a single word longer than the limit is cut where it must be.
            slug = slug or word[:SLUG_MAX]
            break
        slug = candidate
    if slug in RESERVED_SLUGS:
        return f"{slug}-{FALLBACK_SLUG}"
    return slug


def slug_for_title(title: str) -> str:
    """The slug a post gets from its title: never empty."""
    return slugify(title) or FALLBACK_SLUG


def post_path(post_id: int, slug: str) -> str:
    """The post page's address, percent-encoded so it may go in any header or link."""
    return f"/posts/{post_id}/{quote(slug, safe='')}"
