"""What search engines and link previews read of a post page: JSON-LD `BlogPosting`
(schema.org), and the Open Graph and Twitter card image.

The JSON-LD sits in a `<script type="application/ld+json">`: a data block, which
browsers never run, so the CSP's `script-src 'self'` needs no exception for it. It is
made with json.dumps and `<`, `>`, `&` written as `\\u003c`... so no title can close the
script element (JSON reads the escapes back as the same characters)."""

import json
import re
from dataclasses import dataclass
from html import unescape

from fastapi import Request

from content.markdown_render import MEDIA_IMAGES_PATH
from models import Post
from web.templating import post_description, site_url

_IMG = re.compile(r"<img\b[^>]*>")
_ATTRIBUTE = re.compile(r'\s([a-z]+)="([^"]*)"')
_MEDIA_SRC = re.compile(re.escape(MEDIA_IMAGES_PATH) + r"/[0-9a-f]{64}\.webp")
_HTML_UNSAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


@dataclass(frozen=True)
class PreviewImage:
    url: str  # absolute
    width: int | None = None
    height: int | None = None


@dataclass(frozen=True)
class LinkPreview:
    json_ld: str  # safe inside a <script> element as it is
    image: PreviewImage | None
    twitter_card: str  # "summary_large_image" with an image from the post, else "summary"


def first_post_image(content_html: str) -> tuple[str, int | None, int | None] | None:
    """The path and size of the first uploaded image the post shows, from its HTML
    (content/markdown_render.py writes each with its width and height)."""
    for tag in _IMG.findall(content_html):
        attributes = {name: unescape(value) for name, value in _ATTRIBUTE.findall(tag)}
        src = attributes.get("src", "")
        if _MEDIA_SRC.fullmatch(src):
            width, height = attributes.get("width", ""), attributes.get("height", "")
            if width.isdigit() and height.isdigit():
                return src, int(width), int(height)
            return src, None, None
    return None


def json_for_html(value: object) -> str:
    """JSON that can stand inside a <script> element: no `</script>`, no `<!--`."""
    return json.dumps(value, ensure_ascii=False).translate(_HTML_UNSAFE)


def link_preview(request: Request, post: Post, canonical_url: str) -> LinkPreview:
    """A published post's structured data and preview image (its author loaded)."""
    site = site_url(request)
    author = post.author
    image: PreviewImage | None = None
    from_post = first_post_image(post.content_html)
    if from_post is not None:
        path, width, height = from_post
        image = PreviewImage(f"{site}{path}", width, height)
    elif author.image_file:  # the default picture is an SVG, which previews ignore
        image = PreviewImage(f"{site}{author.image_path}")
    published = post.date_posted.isoformat() if post.date_posted else None
    data: dict[str, object] = {
        "@context": "https://schema.org",
        "@type": "BlogPosting",
        "headline": post.title,
        "description": post_description(post),
        "datePublished": published,
        "dateModified": post.updated_at.isoformat() if post.updated_at else published,
        "author": {
            "@type": "Person",
            "name": author.username,
            "url": f"{site}/users/{author.id}/posts",
        },
        "url": canonical_url,
        "mainEntityOfPage": canonical_url,
    }
    if image is not None:
        picture: dict[str, object] = {"@type": "ImageObject", "url": image.url}
        if image.width and image.height:
            picture |= {"width": image.width, "height": image.height}
        data["image"] = picture
    card = "summary_large_image" if from_post is not None else "summary"
    return LinkPreview(json_for_html(data), image, card)
