"""A post file: YAML front matter between `---` lines, then the Markdown body.

Written with `yaml.safe_dump` and read with `yaml.safe_load` only: a file from anywhere
(an import) can never name a Python object to build, only plain scalars, lists and
mappings. The keys Inkwell writes are `title`, `status`, `date`, `updated`, `tags`,
`summary` (left out when none) and `slug`, in that order (README, "Export format").
"""

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import yaml

DELIMITER = "---"


class _Dumper(yaml.SafeDumper):
    """safe_dump's own dumper, writing a time as ISO 8601 with its offset
    (`2026-12-07T21:30:00+00:00`, to the second, in UTC) rather than PyYAML's
    space-separated form: what other tools write, and still a YAML timestamp."""


def _timestamp(dumper: yaml.SafeDumper, value: datetime) -> yaml.ScalarNode:
    moment = value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    text = moment.isoformat(timespec="seconds")
    return dumper.represent_scalar("tag:yaml.org,2002:timestamp", text)


_Dumper.add_representer(datetime, _timestamp)


class FrontMatterError(ValueError):
    """The header is there but is not YAML, or not a mapping."""


def render(meta: Mapping[str, Any], body: str) -> str:
    """The file's text: `meta` as YAML front matter (keys in the order given; None
    values left out), a blank line, then `body` exactly as given."""
    kept = {key: value for key, value in meta.items() if value is not None}
    # yaml.safe_dump with the dumper above (a SafeDumper: plain data only).
    header = yaml.dump(
        kept,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=None,
        width=100,
    )
    return f"{DELIMITER}\n{header}{DELIMITER}\n\n{body}"


def parse(text: str) -> tuple[dict[str, Any], str]:
    """The front matter (an empty dict when the file has none) and the body. A leading
    byte order mark and CRLF line ends are accepted; the blank line `render` puts after
    the header is not part of the body. Raises FrontMatterError for a header that is not
    a YAML mapping (a YAML tag that would build an object included)."""
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != DELIMITER:
        return {}, text
    for end in range(1, len(lines)):
        if lines[end].rstrip() in (DELIMITER, "..."):
            break
    else:
        return {}, text  # no closing line: not front matter
    try:
        meta = yaml.safe_load("\n".join(lines[1:end]))
    except yaml.YAMLError as error:
        raise FrontMatterError(f"front matter is not valid YAML: {error}") from error
    if meta is None:
        meta = {}
    if not isinstance(meta, dict):
        raise FrontMatterError("front matter is not a mapping of keys to values")
    body = "\n".join(lines[end + 1 :])
    return meta, body.removeprefix("\n")
