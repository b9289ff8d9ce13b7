"""Tags: the one place that says what a tag is.

A tag is spelled as a post's address is (content/slugs.py's `slug_words`): letters and
digits of any script, lower case (NFKC, then case folding), words joined by single
hyphens, so "Web Dev", "web  dev" and "WEB-DEV" are all `web-dev`. It has 1 to
TAG_MAX characters once normalised; a post has at most TAGS_MAX, duplicates after
normalising counted once, kept in alphabetical order.
"""

from collections.abc import Iterable
from urllib.parse import quote

from content.slugs import slug_words

TAG_MAX = 32
TAGS_MAX = 8
# What a tag may be as sent, before normalising: room for spaces and punctuation that
# go, but no unbounded work on a hostile string.
TAG_INPUT_MAX = 4 * TAG_MAX


def normalise_tag(text: str) -> str:
    """`text` as a tag; ValueError (naming it) when it cannot be one."""
    if len(text) > TAG_INPUT_MAX:
        raise ValueError(f"tag {text[:TAG_MAX]!r}… is too long: at most {TAG_MAX} characters")
    tag = "-".join(slug_words(text))
    if not tag:
        raise ValueError(f"tag {text!r} needs at least one letter or digit")
    if len(tag) > TAG_MAX:
        raise ValueError(f"tag {text!r} is too long: at most {TAG_MAX} characters")
    return tag


def normalise_tags(texts: Iterable[str]) -> list[str]:
    """Each tag normalised, duplicates dropped, in alphabetical order."""
    tags = sorted({normalise_tag(text) for text in texts})
    if len(tags) > TAGS_MAX:
        raise ValueError(f"at most {TAGS_MAX} tags")
    return tags


def tag_path(tag: str) -> str:
    """The tag's page, percent-encoded (a tag may hold any script's letters) so it may
    go in any header or link."""
    return f"/tags/{quote(tag, safe='')}"
