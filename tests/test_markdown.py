"""Markdown posts: what renders, what never gets through, where the HTML is stored and
shown, the excerpt on cards, the migration that back-filled it, and the preview."""

import re
from html.parser import HTMLParser

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text

from content import code_highlight, markdown_render
from content.markdown_render import (
    ELLIPSIS,
    EXCERPT_LENGTH,
    RESERVED_IDS,
    excerpt,
    heading_slug,
    media_names,
    plain_text,
    reading_minutes,
    render_html,
)
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
        (
            "```\nif a < b:\n    pass\n```",
            '<pre tabindex="0"><code>if a &lt; b:\n    pass\n</code></pre>',
        ),
        # Fenced code in a language Pygments knows is coloured (see "Code" below).
        (
            "```python\nx = 1\n```",
            '<pre class="highlight" tabindex="0"><code><span class="n">x</span> '
            '<span class="o">=</span> <span class="mi">1</span>\n</code></pre>',
        ),
        ("    indented code", '<pre tabindex="0"><code>indented code\n</code></pre>'),
        ("> quoted", "<blockquote>\n<p>quoted</p>\n</blockquote>"),
        ("- one\n- two", "<ul>\n<li>one</li>\n<li>two</li>\n</ul>"),
        ("1. one\n2. two", "<ol>\n<li>one</li>\n<li>two</li>\n</ol>"),
        ("3. three", '<ol start="3">\n<li>three</li>\n</ol>'),
        ("a\n\n---\n\nb", "<p>a</p>\n<hr>\n<p>b</p>"),
        ("line  \nbreak", "<p>line<br>\nbreak</p>"),
        # Headings go one level down: the post's title is the page's only h1.
        ("# Top", '<h2 id="top">Top</h2>'),
        ("## Second", '<h3 id="second">Second</h3>'),
        ("###### Sixth", '<h6 id="sixth">Sixth</h6>'),
        ("Setext\n===", '<h2 id="setext">Setext</h2>'),
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
    "span", "img", "input", "label", "sup", "section",
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
    assert cut  # the code block and the table were left out
    assert text == (
        "A heading Some bold and em words, code, a link, strike. A quote item one item two "
        "& Tom & Jerry"
    )
    assert plain_text(render_html(MARKDOWN_HEAVY)) == (
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


# --- Code --------------------------------------------------------------------------

PYTHON = '```python\ndef greet(name: str) -> str:\n    return f"Hello {name}"  # hi\n```'


def span_classes(html: str) -> list[str]:
    return [
        value for tag, name, value in Markup(html).attributes if (tag, name) == ("span", "class")
    ]


def test_fenced_code_in_a_known_language_is_coloured_by_classes():
    html = render_html(PYTHON)
    assert html.startswith('<pre class="highlight" tabindex="0"><code><span class="k">def</span>')
    assert html.endswith("</code></pre>\n")
    classes = span_classes(html)
    assert {"k", "nf", "nb", "s2", "c1"} <= set(classes)
    assert set(classes) <= code_highlight.TOKEN_CLASSES
    assert '<span class="c1"># hi</span>' in html
    assert "style" not in html
    assert plain_text(html) == 'def greet(name: str) -> str: return f"Hello {name}" # hi'


@pytest.mark.parametrize("info", ["Python", "py", "python3", "python {.x}", "python title=a"])
def test_the_language_is_the_first_word_of_the_info_string(info):
    html = render_html(f"```{info}\nx = 1\n```")
    assert '<span class="mi">1</span>' in html


@pytest.mark.parametrize(
    "source",
    [
        "```\ndef f(): pass\n```",
        "```nosuchlanguage\ndef f(): pass\n```",
        "    def f(): pass",  # indented code has no language
        "~~~\ndef f(): pass\n~~~",
    ],
)
def test_code_without_a_known_language_is_plain_and_never_guessed(source):
    html = render_html(source)
    assert html == '<pre tabindex="0"><code>def f(): pass\n</code></pre>\n'


def test_every_language_keeps_the_code_escaped_and_as_written():
    for language in ("python", "html", "javascript", "nosuch", ""):
        code = '\n<script>alert(1)</script> & "x" <b>\n\n'
        html = render_html(f"```{language}\n{code}```")
        assert_safe(html)
        assert "<script" not in html
        assert "<b>" not in html
        assert plain_text(html).split() == code.split()
        assert html.count("\n") >= code.count("\n")  # blank lines kept


def test_the_allow_list_lets_through_every_pygments_class_and_nothing_else():
    every = "".join(
        f'<span class="{name}">x</span>' for name in sorted(code_highlight.TOKEN_CLASSES)
    )
    assert markdown_render._cleaner.clean(every) == every
    for tag, classes in [("span", "evil k"), ("pre", "highlight evil"), ("code", "language-x")]:
        cleaned = markdown_render._cleaner.clean(f'<{tag} class="{classes}">x</{tag}>')
        assert "evil" not in cleaned
        assert "language" not in cleaned


def test_a_lexer_s_own_token_types_map_to_standard_classes():
    # Token types outside STANDARD_TYPES (some lexers make their own) would give classes
    # the allow-list drops; they are mapped to their standard parent first.
    from pygments.token import Keyword

    custom = Keyword.Made.Up
    assert code_highlight._standard(custom) is Keyword
    for language in ("python", "javascript", "rust", "sql", "bash", "diff", "json", "css"):
        html = render_html(f"```{language}\nlet x = 'y'; -- z\n+a\n```")
        assert set(span_classes(html)) <= code_highlight.TOKEN_CLASSES, language


HOSTILE_FENCES = [
    '```"><script>alert(1)</script>\nx\n```',
    '```python"onmouseover=alert(1)\nx\n```',
    "```<img/src/onerror=alert(1)>\nx\n```",
    "```javascript:alert(1)\nx\n```",
    "```python style=color:red\n</code></pre><script>alert(1)</script>\n```",
    "```html\n<img src=x onerror=alert(1)><style>*{}</style>\n```",
    "```raw\nToken.Evil\t'x'\n```",
    "```../../etc/passwd\nx\n```",
    "```\x00python\nx\n```",
]


@pytest.mark.parametrize("source", HOSTILE_FENCES)
def test_hostile_fences_stay_text(source):
    html = render_html(source)
    assert_safe(html)
    assert "<img" not in html
    assert "<style" not in html
    assert set(span_classes(html)) <= code_highlight.TOKEN_CLASSES
    for tag, name, _value in Markup(html).attributes:
        assert (tag, name) in {("span", "class"), ("pre", "class"), ("pre", "tabindex")}


# --- The code palettes ----------------------------------------------------------------


def test_the_code_stylesheet_is_what_pygments_makes():
    """static/css/code.css is generated: `uv run python -m content.code_highlight`."""
    assert code_highlight.STYLESHEET.read_text(encoding="utf-8") == code_highlight.stylesheet()


def test_the_code_stylesheet_has_no_global_rules_and_is_linked_from_every_page(client):
    css = code_highlight.STYLESHEET.read_text(encoding="utf-8")
    rules = [line for line in css.splitlines() if "{" in line]
    assert rules
    for rule in rules:
        scope = rule.split(" .", 1)[0] + " .highlight"
        assert scope in (code_highlight.LIGHT_SCOPE, code_highlight.DARK_SCOPE), rule
    assert '<link rel="stylesheet" href="/static/css/code.css?v=' in client.get("/login").text


def _luminance(colour: str) -> float:
    hex_digits = colour.lstrip("#")
    if len(hex_digits) == 3:
        hex_digits = "".join(digit * 2 for digit in hex_digits)
    channels = [int(hex_digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(one: str, other: str) -> float:
    light, dark = sorted((_luminance(one), _luminance(other)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


def css_variable(css: str, block: str, name: str) -> str:
    return re.search(rf"{re.escape(block)}\s*{{[^}}]*?{name}:\s*(#[0-9a-f]+)", css).group(1)


@pytest.mark.parametrize(
    ("style", "block"),
    [(code_highlight.LIGHT_STYLE, ":root"), (code_highlight.DARK_STYLE, '[data-theme="dark"]')],
)
def test_every_token_colour_reads_well_on_the_code_block(style, block):
    """WCAG AA (4.5:1) on the code block's background (main.css: `pre` is on --bg)."""
    from pygments.styles import get_style_by_name
    from pygments.token import STANDARD_TYPES

    main_css = (code_highlight.STYLESHEET.parent / "main.css").read_text(encoding="utf-8")
    background = css_variable(main_css, block, "--bg")
    text_colour = css_variable(main_css, block, "--text")
    pygments_style = get_style_by_name(style)
    for token_type, name in STANDARD_TYPES.items():
        if not name or name == "w":  # plain text; whitespace shows nothing
            continue
        rule = pygments_style.style_for_token(token_type)
        colour = "#" + rule["color"] if rule["color"] else text_colour
        ground = "#" + rule["bgcolor"] if rule["bgcolor"] else background
        assert contrast(colour, ground) >= 4.5, (style, name, colour, ground)


# --- Task lists and footnotes ----------------------------------------------------------


def test_task_lists_are_disabled_checkboxes_labelled_by_their_text():
    html = render_html("- [ ] to do *soon*\n- [x] done\n- [X] done too\n- not a task")
    assert html == (
        '<ul class="contains-task-list">\n'
        '<li class="task-list-item"><label><input disabled="disabled" type="checkbox"> '
        "to do <em>soon</em></label></li>\n"
        '<li class="task-list-item"><label><input checked="checked" disabled="disabled" '
        'type="checkbox"> done</label></li>\n'
        '<li class="task-list-item"><label><input checked="checked" disabled="disabled" '
        'type="checkbox"> done too</label></li>\n'
        "<li>not a task</li>\n</ul>\n"
    )


@pytest.mark.parametrize(
    "raw",
    [
        '<input type="text" name="x" value="y" onfocus="alert(1)" autofocus>',
        '<input type="checkbox" class="task-list-item-checkbox" id="x" form="f">',
        '<input type="image" src="https://evil.example/x.png">',
        "<input>",
    ],
)
def test_the_sanitiser_makes_any_input_a_disabled_checkbox(raw):
    cleaned = markdown_render._cleaner.clean(raw)
    assert Markup(cleaned).attributes in (
        [("input", "type", "checkbox"), ("input", "disabled", "disabled")],
        [("input", "disabled", "disabled"), ("input", "type", "checkbox")],
    )


def test_footnotes_link_to_a_list_at_the_end_and_back():
    html = render_html("Claim[^src] and again[^src], aside^[inline *note*].\n\n[^src]: The source.")
    assert html == (
        '<p>Claim<sup class="footnote-ref"><a href="#fn1" id="fnref1" rel="nofollow noopener">'
        "[1]</a></sup> and again"
        '<sup class="footnote-ref"><a href="#fn1" id="fnref1:1" rel="nofollow noopener">'
        "[1:1]</a></sup>, aside"
        '<sup class="footnote-ref"><a href="#fn2" id="fnref2" rel="nofollow noopener">'
        "[2]</a></sup>.</p>\n"
        '<hr class="footnotes-sep">\n<section class="footnotes">\n<ol class="footnotes-list">\n'
        '<li id="fn1" class="footnote-item"><p>The source. '
        '<a href="#fnref1" class="footnote-backref" rel="nofollow noopener">↩︎</a> '
        '<a href="#fnref1:1" class="footnote-backref" rel="nofollow noopener">↩︎</a></p>\n'
        "</li>\n"
        '<li id="fn2" class="footnote-item"><p>inline <em>note</em> '
        '<a href="#fnref2" class="footnote-backref" rel="nofollow noopener">↩︎</a></p>\n'
        "</li>\n</ol>\n</section>\n"
    )


@pytest.mark.parametrize(
    "source",
    [
        'x[^"><script>alert(1)</script>]\n\n[^"><script>alert(1)</script>]: y',
        "x[^a onmouseover=alert(1)]\n\n[^a onmouseover=alert(1)]: y",
        "x[^<img src=x onerror=alert(1)>]\n\n[^<img src=x onerror=alert(1)>]: y",
        "x^[<script>alert(1)</script>]",
        "x[^1]\n\n[^1]: [z](javascript:alert(1))",
    ],
)
def test_hostile_footnotes_stay_text(source):
    html = render_html(source)
    assert_safe(html)
    assert "<img" not in html
    ids = [value for _tag, name, value in Markup(html).attributes if name == "id"]
    assert all(re.fullmatch(r"fn(ref)?[0-9]+(:[0-9]+)?", value) for value in ids), ids


# --- Heading ids -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "slug"),
    [
        ("Getting started", "getting-started"),
        ("Getting   Started!", "getting-started"),
        ("What's new in 2.0?", "whats-new-in-20"),
        ("snake_case and kebab-case", "snake_case-and-kebab-case"),
        ("a -- b", "a-b"),
        ("Ünïcödé Straße", "ünïcödé-straße"),
        ("日本語の見出し", "日本語の見出し"),
        ("Привет, мир", "привет-мир"),
        ("हिन्दी शीर्षक", "हिन्दी-शीर्षक"),
        ("مرحبا بالعالم", "مرحبا-بالعالم"),
        ("🎉 !!!", "section"),
        ("zero\u200bwidth", "zerowidth"),
    ],
)
def test_heading_slugs(text, slug):
    assert heading_slug(text) == slug


def ids_of(html: str) -> list[str]:
    return [value for _tag, name, value in Markup(html).attributes if name == "id"]


def test_headings_get_unique_ids_for_deep_links():
    html = render_html(
        "# Intro\n\n## Intro\n\n### Intro\n\n# Intro 1\n\n"
        "# `code` and *em*\n\n# ![alt](x.png) image"
    )
    assert ids_of(html) == ["intro", "intro-1", "intro-2", "intro-1-1", "code-and-em", "alt-image"]
    assert '<h2 id="intro">Intro</h2>' in html
    assert '<h3 id="intro-1">Intro</h3>' in html


def test_heading_ids_never_take_the_page_s_or_the_footnotes_ids():
    reserved = ["main", "post-content", "post-title", "theme-toggle", "fn1", "fnref2"]
    html = render_html("".join(f"# {name}\n\n" for name in reserved) + "x[^1]\n\n[^1]: y")
    heading_ids = [v for t, n, v in Markup(html).attributes if n == "id" and t.startswith("h")]
    assert heading_ids == [f"{name}-1" for name in reserved]
    assert len(set(ids_of(html))) == len(ids_of(html))


@pytest.mark.parametrize(
    "source",
    [
        '# "><script>alert(1)</script>',
        "# <img src=x onerror=alert(1)>",
        '# x" onclick="alert(1)',
        "# [x](javascript:alert(1))",
        "# \u202eevil",
    ],
)
def test_hostile_heading_text_stays_text(source):
    html = render_html(source)
    assert_safe(html)
    (heading_id,) = ids_of(html)
    assert re.fullmatch(r"[\w-]+", heading_id), heading_id


# --- Images ------------------------------------------------------------------------------

NAME = "ab" * 32 + ".webp"
OTHER = "cd" * 32 + ".webp"
IMAGES = ((NAME, 640, 480),)


def test_an_uploaded_image_renders_with_its_size_and_loads_lazily():
    html = render_html(f'![A *red* "cat"](/media/images/{NAME})', IMAGES)
    assert html == (
        f'<p><img src="/media/images/{NAME}" alt="A red &quot;cat&quot;" width="640" '
        'height="480" loading="lazy" decoding="async"></p>\n'
    )


@pytest.mark.parametrize(
    "source",
    [
        f"![cat](/media/images/{OTHER})",  # not among the images given
        f"![cat](https://evil.example/media/images/{NAME})",  # remote
        f"![cat](//evil.example/media/images/{NAME})",
        "![cat](https://example.com/cat.png)",
        f"![cat](/media/images/{NAME}?x=1)",
        f"![cat](/media/images/../images/{NAME})",
        f"![cat](/media/images/{NAME.upper()})",
        "![cat](/media/pictures/x.webp)",
    ],
)
def test_any_other_image_stays_alt_text(source):
    assert render_html(source, IMAGES) == "<p>cat</p>\n"


def test_without_sizes_no_image_renders():
    assert render_html(f"![cat](/media/images/{NAME})") == "<p>cat</p>\n"


@pytest.mark.parametrize(
    "raw",
    [
        '<img src="https://evil.example/x.png" alt="x">',
        '<img src="/static/img/default.svg" alt="x">',
        f'<img src="javascript:alert(1)/media/images/{NAME}">',
        '<img src="x" onerror="alert(1)" style="x" loading="eager" srcset="https://e/x 1x">',
    ],
)
def test_the_sanitiser_alone_keeps_images_to_uploaded_ones(raw):
    cleaned = markdown_render._cleaner.clean(raw)
    for tag, name, value in Markup(cleaned).attributes:
        assert name in {"alt"}, (tag, name, value)


def test_media_names_finds_every_uploaded_image_mentioned():
    source = (
        f"![a](/media/images/{NAME}) [link](/media/images/{OTHER}) "
        f"`/media/images/{NAME}` /media/images/{'ab' * 31}.webp /media/images/{NAME.upper()}"
    )
    assert media_names(source) == frozenset({NAME, OTHER})
    assert media_names("no images") == frozenset()


def test_models_share_the_media_path():
    import models

    assert models.MEDIA_IMAGES_PATH == markdown_render.MEDIA_IMAGES_PATH == "/media/images"


def test_renders_are_cached_per_source_and_images():
    cache = markdown_render._render_cached
    source = f"![cat](/media/images/{NAME}) cached"
    before = cache.cache_info().hits
    render_html(source, IMAGES)
    render_html(source, IMAGES)
    assert cache.cache_info().hits == before + 1
    assert render_html(source, ()) == "<p>cat cached</p>\n"
    render_html(source)  # the same key as with () given
    assert cache.cache_info().hits == before + 2


def test_rendering_off_the_loop_takes_the_images(client):
    async def render() -> str:
        return await markdown_render.render_off_loop(f"![cat](/media/images/{NAME})", IMAGES)

    assert "<img " in client.portal.call(render)


# --- Excerpts from prose, reading time ---------------------------------------------------

ISSUE_EXAMPLE = """# Tools I use

A code block:

```python
def greet(name: str) -> str:
    return f"Hello, {name}"
```

A table:

| Tool | Language | Stars |
|------|----------|-------|
| ruff | Rust     | 30k   |

- [x] Write the post[^1]
- [ ] Publish it

1. First
2. Second

[^1]: With footnotes.
"""


def test_the_excerpt_is_prose_only():
    text, cut = excerpt(render_html(ISSUE_EXAMPLE))
    assert text == "Tools I use A code block: A table: Write the post Publish it First Second"
    assert cut  # the code, the table and the footnote are more than the excerpt says
    for absent in (
        "def greet",
        "Tool Language Stars",
        "ruff",
        "[1]",
        "footnotes",
        "- ",
        "1.",
        "[x]",
    ):
        assert absent not in text, absent


def test_an_excerpt_of_prose_alone_is_not_cut():
    assert excerpt(render_html("Just *prose*.\n\n- a list\n- [ ] a task")) == (
        "Just prose. a list a task",
        False,
    )


@pytest.mark.parametrize(
    ("words", "minutes"), [(0, 1), (1, 1), (230, 1), (231, 2), (460, 2), (461, 3), (2300, 10)]
)
def test_reading_minutes(words, minutes):
    assert reading_minutes(render_html(" ".join(["word"] * words) or " ")) == minutes


def test_reading_minutes_count_code_and_tables_but_not_markup():
    source = "**" + " ".join(["w"] * 200) + "**\n\n```python\n" + "x = 1\n" * 20 + "```"
    assert reading_minutes(render_html(source)) == 2  # 200 + 60 words
    assert reading_minutes("<p>" + '<span class="k">x</span> ' * 230 + "</p>") == 1


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
    assert '<h2 id="heading">Heading</h2>' in content
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
            f'<a class="read-more" href="{long["url"]}" aria-label="Read more: Long one">'
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
                '<h2 id="title">Title</h2>\n<p>&lt;script&gt;x&lt;/script&gt;</p>\n',
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


# --- The pages' own ids --------------------------------------------------------------


class Ids(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.ids += [value or "" for name, value in attrs if name == "id"]


def test_no_heading_can_take_an_id_of_any_page(client, alice):
    """Every page's own ids are reserved (RESERVED_IDS): a post, or a preview of one in a
    page's dialog, never shadows them. Every page router's GET route is visited, so a
    new page or a new id in a template fails here until it is added."""
    from routers import pages

    post = create_post(client, alice, content="Only *words*, no headings.", tags=["news"])
    values = {"post_id": str(post["id"]), "user_id": str(alice.id), "tag": "news"}
    seen: set[str] = set()
    for route in pages.router.routes:
        path = re.sub(
            r"{(\w+)(?::\w+)?}", lambda match: values.get(match.group(1), "x"), route.path
        )
        response = client.get(path)
        assert response.status_code == 200, path
        seen |= set(Ids(response.text).ids)
    assert {"post-content", "main"} <= seen
    assert seen <= RESERVED_IDS, sorted(seen - RESERVED_IDS)
