"""The signing secret: too short refuses to start; a generated one is private, reused
and never logged."""

import pytest
from pydantic import ValidationError

from config import Settings, load_or_create_secret_key


def test_a_short_secret_refuses_to_start():
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        Settings(secret_key="too-short")


def test_the_generated_secret_is_kept_private_and_reused(tmp_path, caplog):
    path = tmp_path / ".secret_key"
    first = load_or_create_secret_key(path)
    assert len(first.get_secret_value()) >= 64
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_or_create_secret_key(path).get_secret_value() == first.get_secret_value()
    assert "generated" in caplog.text
    assert first.get_secret_value() not in caplog.text
    assert first.get_secret_value() not in repr(Settings(secret_key=first))
