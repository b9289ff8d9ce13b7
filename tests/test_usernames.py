"""Look-alike usernames: invisible characters, mixed scripts and mixed digits are refused.

Non-ASCII characters are written as escapes, so the test says exactly which code point
it sends: a Cyrillic "a" looks like a Latin one on the page, which is the whole point.
"""

import pytest

from accounts import usernames
from accounts.usernames import clean_username
from tests.helpers import make_account, register

CYRILLIC_A = "\u0430"
GREEK_OMICRON = "\u03bf"

INVISIBLE = [
    pytest.param("a\u2800b", id="U+2800 braille pattern blank"),
    pytest.param("\u2800", id="U+2800 alone"),
    pytest.param("a\u3164b", id="U+3164 hangul filler"),
    pytest.param("\u3164", id="U+3164 alone"),
    pytest.param("a\u115fb", id="U+115F hangul choseong filler"),
    pytest.param("a\u1160b", id="U+1160 hangul jungseong filler"),
    pytest.param("a\uffa0b", id="U+FFA0 halfwidth hangul filler"),
    pytest.param("a\u034fb", id="U+034F combining grapheme joiner"),
    pytest.param("a\u200bb", id="U+200B zero width space"),
    pytest.param("a\u200cb", id="U+200C zero width non-joiner"),
    pytest.param("a\u200db", id="U+200D zero width joiner"),
    pytest.param("a\u00adb", id="U+00AD soft hyphen"),
    pytest.param("a\u2060b", id="U+2060 word joiner"),
    pytest.param("a\ufeffb", id="U+FEFF zero width no-break space"),
    pytest.param("a\u202eb", id="U+202E right-to-left override"),
    pytest.param("a\u2066b", id="U+2066 left-to-right isolate"),
    pytest.param("a\u180eb", id="U+180E mongolian vowel separator"),
    pytest.param("a\u17b4b", id="U+17B4 khmer inherent vowel"),
    pytest.param("a\ufe0fb", id="U+FE0F variation selector 16"),
    pytest.param("a\U000e0041b", id="U+E0041 tag latin capital a"),
    pytest.param("a\U0001bca0b", id="U+1BCA0 shorthand format letter overlap"),
    pytest.param("a\u0600b", id="U+0600 arabic number sign (format, not ignorable)"),
    pytest.param("a\tb", id="tab"),
    pytest.param("a\nb", id="newline"),
    pytest.param("a\x85b", id="U+0085 next line"),
    pytest.param("a\u2028b", id="U+2028 line separator"),
    pytest.param("a\u2029b", id="U+2029 paragraph separator"),
    pytest.param("a\u1680b", id="U+1680 ogham space mark"),
    pytest.param("a\x07b", id="bell"),
]

MIXED_SCRIPTS = [
    pytest.param(f"p{CYRILLIC_A}ypal", id="Cyrillic a in Latin"),
    pytest.param(f"D{GREEK_OMICRON}ug", id="Greek omicron in Latin"),
    pytest.param("\u0397ello", id="Greek capital eta in Latin"),
    pytest.param("\u0430pple", id="Cyrillic first letter"),
    pytest.param("\u0414\u043c\u0438\u0442\u0440\u0438\u0439 Smith", id="Cyrillic and Latin words"),
    pytest.param("abc\u0661", id="Latin with an Arabic-Indic digit"),
    pytest.param("\u3072\u3089\u304c\u306a\ud55c\uad6d", id="Hiragana and Hangul"),
    pytest.param("\u0391lpha\u5c71", id="Greek, Latin and Han"),
    pytest.param("\u05e9\u05dc\u05d5\u05dd\u0633\u0644\u0627\u0645", id="Hebrew and Arabic"),
    pytest.param("\u0e44\u0e17\u0e22\u0ea5\u0eb2\u0ea7", id="Thai and Lao"),
]

ACCEPTED = [
    pytest.param("Alice", "Alice", id="ASCII"),
    pytest.param("user_1-2.3", "user_1-2.3", id="digits and _-."),
    pytest.param("O'Brien", "O'Brien", id="ASCII apostrophe"),
    pytest.param("Jane Doe", "Jane Doe", id="one inner space"),
    pytest.param("Zo\u00eb", "Zo\u00eb", id="Zoe with diaeresis"),
    pytest.param("Jos\u00e9", "Jos\u00e9", id="Jose with acute"),
    pytest.param("Jose\u0301", "Jos\u00e9", id="decomposed acute is composed"),
    pytest.param("Stra\u00dfe", "Stra\u00dfe", id="German sharp s"),
    pytest.param("Ti\u1ebfng Vi\u1ec7t", "Ti\u1ebfng Vi\u1ec7t", id="Vietnamese"),
    pytest.param("Spin\u0308al", "Spin\u0308al", id="n with a combining diaeresis"),
    pytest.param("\u0414\u043c\u0438\u0442\u0440\u0438\u0439", None, id="Cyrillic"),
    pytest.param("\u0391\u03bb\u03ad\u03be\u03b1\u03bd\u03b4\u03c1\u03bf\u03c2", None, id="Greek"),
    pytest.param(
        "\u5c71\u7530\u305f\u308d\u3046\u30bf\u30ed\u30a6", None, id="Han+Hiragana+Katakana"
    ),
    pytest.param("\u30b8\u30e7\u30f3\u30fb\u30b9\u30df\u30b9", None, id="Katakana middle dot"),
    pytest.param("\u5c71\u7530 \u592a\u90ce", None, id="Japanese with a space"),
    pytest.param("\u7530\u4e2dTaro", None, id="Han with Latin (Japanese)"),
    pytest.param("\uae40\ubbfc\uc900", None, id="Korean"),
    pytest.param("Kim\ubbfc\uc900", None, id="Hangul with Latin (Korean)"),
    pytest.param("\u738b\u5c0f\u660e\u3105", None, id="Han with Bopomofo"),
    pytest.param("\u0645\u062d\u0645\u062f", None, id="Arabic"),
    pytest.param("\u0645\u062d\u0645\u062f\u0661\u0662", None, id="Arabic with Arabic digits"),
    pytest.param("\u0645\u062d\u0645\u062f12", None, id="Arabic with ASCII digits"),
    pytest.param("\u05e9\u05dc\u05d5\u05dd", None, id="Hebrew"),
    pytest.param("\u0915\u0943\u0937\u094d\u0923", None, id="Devanagari with marks"),
    pytest.param("\u0e2a\u0e21\u0e0a\u0e32\u0e22", None, id="Thai"),
    pytest.param("\u10d2\u10d8\u10dd\u10e0\u10d2\u10d8", None, id="Georgian"),
]


@pytest.mark.parametrize("name", INVISIBLE)
def test_invisible_and_blank_characters_are_refused(name):
    with pytest.raises(ValueError, match="must not contain invisible or blank characters"):
        clean_username(name)


@pytest.mark.parametrize("name", MIXED_SCRIPTS)
def test_mixed_scripts_are_refused(name):
    with pytest.raises(ValueError, match="must not mix scripts"):
        clean_username(name)


def test_the_mixed_scripts_message_names_them():
    with pytest.raises(ValueError, match=r"^must not mix scripts \(here Cyrillic and Latin\)$"):
        clean_username(f"p{CYRILLIC_A}ypal")
    with pytest.raises(ValueError, match=r"\(here Arabic and Latin\)$"):
        clean_username("abc\u0661")


@pytest.mark.parametrize(("name", "stored"), ACCEPTED)
def test_names_in_one_script_are_accepted(name, stored):
    assert clean_username(name) == (name if stored is None else stored)


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        pytest.param("\ufb01nn", "finn", id="ligature"),
        pytest.param("\uff21\uff4c\uff49\uff43\uff45", "Alice", id="fullwidth"),
        pytest.param("\u210cello", "Hello", id="black-letter H"),
        pytest.param("x\u00b2", "x2", id="superscript two"),
        pytest.param("\u2460", "1", id="circled one"),
        pytest.param("\u216b", "XII", id="roman numeral"),
        pytest.param("\u1d43lice", "alice", id="modifier small a"),
    ],
)
def test_nfkc_is_kept(name, stored):
    assert clean_username(name) == stored


@pytest.mark.parametrize(
    ("name", "stored"),
    [
        pytest.param("  McAlice  ", "McAlice", id="strip"),
        pytest.param("Jane   Doe", "Jane Doe", id="run of spaces"),
        pytest.param("Jane\u00a0Doe", "Jane Doe", id="no-break space (NFKC)"),
        pytest.param("Jane\u2003\u2003Doe", "Jane Doe", id="em spaces (NFKC)"),
        pytest.param(
            "\u5c71\u7530\u3000\u592a\u90ce", "\u5c71\u7530 \u592a\u90ce", id="ideographic"
        ),
        pytest.param("\u3000Alice\u3000", "Alice", id="ideographic around"),
        pytest.param("Jane" + " " * 60 + "Doe", "Jane Doe", id="collapsed before counting"),
    ],
)
def test_spaces_become_single_ordinary_spaces(name, stored):
    assert clean_username(name) == stored


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param("", "must be 1 to 50", id="empty"),
        pytest.param("   ", "must be 1 to 50", id="blank"),
        pytest.param("x" * 51, "must be 1 to 50", id="too long"),
        pytest.param("a\U0001f600", "no emoji or symbols", id="emoji"),
        pytest.param("\u2764", "no emoji or symbols", id="heart"),
        pytest.param("1\u20e3", "no emoji or symbols", id="enclosing keycap"),
        pytest.param("a\u2010b", "no emoji or symbols", id="unicode hyphen"),
        pytest.param("a\u2013b", "no emoji or symbols", id="en dash"),
        pytest.param("a\u2212b", "no emoji or symbols", id="minus sign"),
        pytest.param("O\u2019Brien", "no emoji or symbols", id="curly apostrophe"),
        pytest.param("Gal\u00b7la", "no emoji or symbols", id="middle dot"),
        pytest.param("a\u02b9b", "no emoji or symbols", id="Common modifier letter prime"),
        pytest.param("\u00bd", "no emoji or symbols", id="vulgar fraction"),
        pytest.param("a\ue000", "unassigned or private-use", id="private use"),
        pytest.param("a\U000f0000", "unassigned or private-use", id="supplementary private use"),
        pytest.param("a\U0010fffe", "unassigned or private-use", id="noncharacter"),
        pytest.param("a\ud800", "unassigned or private-use", id="lone surrogate"),
        pytest.param("\u13a2\u13aa\u13bd", "script in common modern use", id="Cherokee"),
        pytest.param("\ua4d1\ua4ef", "script in common modern use", id="Lisu"),
        pytest.param("\u16a0\u16a2", "script in common modern use", id="Runic"),
        pytest.param(
            "\u0661\u0662\u06f3", "different numbering systems", id="two Arabic digit sets"
        ),
        pytest.param("\u0661\u06623", "different numbering systems", id="Arabic-Indic and ASCII"),
        pytest.param(
            "\u0967\u0968\u0969 9", "different numbering systems", id="Devanagari and ASCII"
        ),
        pytest.param("\u0301abc", "combining marks", id="leading mark"),
        pytest.param("ab \u0301c", "combining marks", id="mark after a space"),
        pytest.param("e\u0301\u0301", "combining marks", id="same mark twice"),
        pytest.param("a\u0300\u0301\u0302\u0303\u0304", "combining marks", id="five marks"),
    ],
)
def test_other_refusals(name, message):
    with pytest.raises(ValueError, match=message):
        clean_username(name)


def test_four_different_marks_are_allowed():
    assert clean_username("a\u0300\u0301\u0302\u0303") == "\u00e0\u0301\u0302\u0303"


def test_every_default_ignorable_code_point_is_refused():
    """All of the property as the regex package knows it, not a hand-picked list."""
    ignorable = usernames.regex.compile(r"\p{Default_Ignorable_Code_Point}")
    every = (chr(n) for n in range(0x110000) if not 0xD800 <= n <= 0xDFFF)
    found = [char for char in every if ignorable.match(char)]
    assert len(found) > 4000  # mostly the unassigned tag and variation selector planes
    for char in found:
        with pytest.raises(ValueError, match="invisible or blank"):
            clean_username(f"a{char}b")


# --- through the API --------------------------------------------------------------


def _messages(response) -> str:
    return " ".join(error["msg"] for error in response.json()["detail"])


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a\u2800b", "invisible or blank"),
        ("a\u3164b", "invisible or blank"),
        ("a\u115fb", "invisible or blank"),
        ("a\u034fb", "invisible or blank"),
        ("a\u200bb", "invisible or blank"),
        ("a\u00adb", "invisible or blank"),
        (f"p{CYRILLIC_A}ypal", "must not mix scripts (here Cyrillic and Latin)"),
        (f"D{GREEK_OMICRON}ug", "must not mix scripts (here Greek and Latin)"),
        ("\u0661\u06623", "different numbering systems"),
    ],
)
def test_sign_up_refuses_look_alikes_with_a_422(client, name, message):
    response = register(client, name, "look@example.com")
    assert response.status_code == 422
    assert message in _messages(response)
    assert response.json()["detail"][0]["loc"] == ["body", "username"]


@pytest.mark.parametrize(
    "name",
    [
        "\u0414\u043c\u0438\u0442\u0440\u0438\u0439",
        "\u0391\u03bb\u03ad\u03be\u03b1\u03bd\u03b4\u03c1\u03bf\u03c2",
        "\u5c71\u7530\u305f\u308d\u3046\u30bf\u30ed\u30a6",
        "\uae40\ubbfc\uc900",
        "\u0645\u062d\u0645\u062f",
        "Zo\u00eb",
        "Jos\u00e9",
    ],
)
def test_sign_up_accepts_names_in_one_script(client, name):
    response = register(client, name, "one@example.com")
    assert response.status_code == 201, response.text
    assert response.json()["username"] == name


def test_sign_up_keeps_nfkc_and_collapses_spaces(client):
    assert register(client, "\ufb01nn", "finn@example.com").json()["username"] == "finn"
    assert register(client, "Jane   Doe", "jane@example.com").json()["username"] == "Jane Doe"
    again = register(client, "Jane\u00a0Doe", "jane2@example.com")
    assert again.status_code == 409  # the same name once normalised


def test_rename_to_a_look_alike_is_refused(client):
    paypal = make_account(client, "paypal")
    other = make_account(client, "Mallory")
    url = f"/api/users/{other.id}"
    for look_alike in (f"p{CYRILLIC_A}ypal", "pay\u200bpal", "paypal\u3164"):
        response = client.patch(url, json={"username": look_alike}, headers=other.headers)
        assert response.status_code == 422, look_alike
    assert client.get(url).json()["username"] == "Mallory"
    assert client.get(f"/api/users/{paypal.id}").json()["username"] == "paypal"
    renamed = client.patch(
        url, json={"username": "\u041c\u044d\u043b\u043b\u043e\u0440\u0438"}, headers=other.headers
    )
    assert renamed.status_code == 200, renamed.text
