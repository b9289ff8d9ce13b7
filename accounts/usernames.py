"""The username rule: one visible name per person, so nobody can pass for somebody else.

Two names that look the same must not both exist. Uniqueness is checked on a folded key
(`models.fold`: NFKC plus case folding), which catches "ALICE" beside "alice" and fullwidth
forms, but not names that differ only in characters nobody can see, nor names that swap a
letter for a look-alike from another script ("paypal" with U+0430, a Cyrillic "a"). Those are
refused here, following Unicode TR #39 (Security Mechanisms) and UAX #31 (Identifiers):

1. NFKC-normalise, strip, and collapse runs of spaces into one. (NFKC already turns
   no-break, ideographic and other width variants of the space into U+0020.)
2. Refuse invisible and blank characters: every Default_Ignorable_Code_Point (soft
   hyphen, zero-width characters, joiners, variation selectors, bidi controls, the Hangul
   fillers U+115F, U+1160, U+3164 and U+FFA0, U+034F COMBINING GRAPHEME JOINER, ...), any
   control or format character, U+2800 BRAILLE PATTERN BLANK, and any white space but
   the ordinary space.
3. Refuse unassigned and private-use code points, including those newer than Python's own
   Unicode tables: NFKC and case folding could not normalise them.
4. Allow only printable ASCII, and beyond ASCII only letters, combining marks and numbers
   that belong to a script (not Common), plus U+30FB KATAKANA MIDDLE DOT: no emoji, no
   symbols, no look-alike dashes, quotes or dots.
5. Every script used must be one of UAX #31's Recommended scripts (in common modern use):
   historic and limited-use scripts hold many whole-word look-alikes of Latin (Cherokee,
   Lisu), which rule 6 cannot see.
6. No mixed scripts, at TR #39's "Highly Restrictive" level (section 5.2): the resolved
   script set (section 5.1, by Script_Extensions, Common and Inherited fitting any script,
   Han counting as Japanese, Korean and Chinese-with-Bopomofo) must not be empty, except
   that Latin may join Han with Hiragana and Katakana, Han with Bopomofo, or Han with
   Hangul, as people really write in Japan, Taiwan and Korea.
7. Digits from one numbering system only (TR #39 section 5.3): no ASCII "1" beside
   U+0661 ARABIC-INDIC DIGIT ONE.
8. Combining marks sit on a letter, at most four in a row, never the same one twice in a
   row (TR #39 section 5.4), so marks cannot be stacked into look-alikes or noise.
9. 1 to USERNAME_MAX characters once normalised.

What this cannot catch: look-alikes within one script ("l" and "I", "rn" and "m") and
whole names in another script that happen to look like a Latin one ("paypal" in Cyrillic).
Catching those needs TR #39 confusable skeletons stored beside the folded key.

Unicode property data (Default_Ignorable_Code_Point, Script_Extensions, categories) comes
from the `regex` package, which tracks the latest Unicode version; patterns are compiled
once and per-character script lookups are cached, so a check costs microseconds.
"""

import unicodedata
from functools import lru_cache

import regex

from models import USERNAME_MAX

# UAX #31, Table 4 (Recommended Scripts), less Common and Inherited, which fit any script.
RECOMMENDED_SCRIPTS = (
    "Arabic",
    "Armenian",
    "Bengali",
    "Bopomofo",
    "Cyrillic",
    "Devanagari",
    "Ethiopic",
    "Georgian",
    "Greek",
    "Gujarati",
    "Gurmukhi",
    "Han",
    "Hangul",
    "Hebrew",
    "Hiragana",
    "Kannada",
    "Katakana",
    "Khmer",
    "Lao",
    "Latin",
    "Malayalam",
    "Myanmar",
    "Oriya",
    "Sinhala",
    "Tamil",
    "Telugu",
    "Thaana",
    "Thai",
    "Tibetan",
)

# TR #39 section 5.1: the writing systems that combine Han with other scripts.
JAPANESE = "Japanese"
KOREAN = "Korean"
HAN_WITH_BOPOMOFO = "Han with Bopomofo"
_AUGMENTED = {
    "Han": frozenset({JAPANESE, KOREAN, HAN_WITH_BOPOMOFO}),
    "Hiragana": frozenset({JAPANESE}),
    "Katakana": frozenset({JAPANESE}),
    "Hangul": frozenset({KOREAN}),
    "Bopomofo": frozenset({HAN_WITH_BOPOMOFO}),
}
_HIGHLY_RESTRICTIVE_WITH_LATIN = frozenset({JAPANESE, KOREAN, HAN_WITH_BOPOMOFO})

INVISIBLE = "must not contain invisible or blank characters"
UNASSIGNED = "must not contain unassigned or private-use characters"
REPERTOIRE = "may contain only letters, digits, spaces and ASCII punctuation (no emoji or symbols)"
RARE_SCRIPT = "must be written in a script in common modern use"
MIXED_SCRIPTS = "must not mix scripts"
MIXED_DIGITS = "must not mix digits from different numbering systems"
STRAY_MARKS = "must not have combining marks without a letter, repeated or stacked"
LENGTH = f"must be 1 to {USERNAME_MAX} characters"

_SPACES = regex.compile(r" {2,}")
_INVISIBLE = regex.compile(
    r"[\p{Default_Ignorable_Code_Point}\p{Cc}\p{Cf}\p{Zl}\p{Zp}\u2800[\p{White_Space}--\x20]]",
    regex.V1,
)
_ALLOWED = regex.compile(r"[\x20-\x7E\u30FB[[\p{L}\p{M}\p{N}]--[\p{scx=Common}\p{Me}]]]*", regex.V1)
_UNIVERSAL = regex.compile(r"[\p{scx=Common}\p{scx=Inherited}]")
_SCRIPT_PATTERNS = tuple(
    (script, regex.compile(rf"\p{{scx={script}}}")) for script in RECOMMENDED_SCRIPTS
)
# Checked on NFD, where every mark stands apart from its base letter.
_STRAY_MARKS = regex.compile(r"(?:^| )\p{M}|(\p{Mn})\1|[\p{Mn}\p{Me}]{5}")
_UNKNOWN_CATEGORIES = frozenset({"Cn", "Co", "Cs"})


def clean_username(value: str) -> str:
    """The username as stored, or ValueError saying which rule it breaks (see the module)."""
    value = _SPACES.sub(" ", unicodedata.normalize("NFKC", value).strip())
    if _INVISIBLE.search(value):
        raise ValueError(INVISIBLE)
    if not value.isascii():
        _check_non_ascii(value)
    if not 1 <= len(value) <= USERNAME_MAX:
        raise ValueError(LENGTH)
    return value


def _check_non_ascii(value: str) -> None:
    """Rules 3 to 8; a printable ASCII name passes all of them by construction."""
    if any(unicodedata.category(char) in _UNKNOWN_CATEGORIES for char in value):
        raise ValueError(UNASSIGNED)
    if not _ALLOWED.fullmatch(value):
        raise ValueError(REPERTOIRE)
    if problem := _script_problem(value):
        raise ValueError(problem)
    if len({ord(char) - unicodedata.decimal(char) for char in value if char.isdecimal()}) > 1:
        raise ValueError(MIXED_DIGITS)
    if _STRAY_MARKS.search(unicodedata.normalize("NFD", value)):
        raise ValueError(STRAY_MARKS)


@lru_cache(maxsize=4096)
def scripts_of(char: str) -> frozenset[str] | None:
    """The augmented Script_Extensions of a character (TR #39 section 5.1), limited to the
    Recommended scripts, or None for Common and Inherited ones, which fit any script.
    Cached: names repeat their characters, and a lookup tries every Recommended script."""
    if _UNIVERSAL.match(char):
        return None
    scripts = frozenset(script for script, pattern in _SCRIPT_PATTERNS if pattern.match(char))
    return scripts.union(*(_AUGMENTED.get(script, ()) for script in scripts))


def _script_problem(value: str) -> str | None:
    """Rules 5 and 6. TR #39 section 5.2 "Highly Restrictive": one script, or Latin with
    Japanese, Korean or Chinese (Han with Bopomofo); section 5.1 resolves the scripts."""
    resolved: frozenset[str] | None = None
    without_latin: frozenset[str] | None = None
    for char in value:
        scripts = scripts_of(char)
        if scripts is None:
            continue
        if not scripts:
            return RARE_SCRIPT
        resolved = scripts if resolved is None else resolved & scripts
        if "Latin" not in scripts:
            without_latin = scripts if without_latin is None else without_latin & scripts
    if resolved is None or resolved or without_latin is None:
        return None
    if without_latin & _HIGHLY_RESTRICTIVE_WITH_LATIN:
        return None
    return _mixed_scripts_message(value)


def _mixed_scripts_message(value: str) -> str:
    """Name the scripts seen: first those of characters in one script only, then one of
    each character that shares no script with them (an Arabic-Indic digit is also Thaana)."""
    per_char = [
        sorted((scripts_of(char) or frozenset()).intersection(RECOMMENDED_SCRIPTS))
        for char in value
    ]
    seen = {scripts[0] for scripts in per_char if len(scripts) == 1}
    for scripts in per_char:
        if scripts and seen.isdisjoint(scripts):
            seen.add(scripts[0])
    if len(seen) < 2:  # cannot happen when the resolved set is empty; kept as a guard
        return MIXED_SCRIPTS
    *others, last = sorted(seen)
    return f"{MIXED_SCRIPTS} (here {', '.join(others)} and {last})"
