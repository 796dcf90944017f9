import hashlib

import pytest

from unigate.domain import keys


def test_generated_keys_are_well_formed_unique_and_prefixed() -> None:
    generated = {keys.generate_key() for _ in range(200)}
    assert len(generated) == 200
    for key in generated:
        assert key.startswith("ug_")
        assert len(key) == keys.KEY_LENGTH
        assert keys.is_well_formed(key)


def test_any_single_character_change_fails_the_checksum() -> None:
    key = keys.generate_key()
    for position in range(3, len(key)):
        replacement = "A" if key[position] != "A" else "B"
        mutated = key[:position] + replacement + key[position + 1 :]
        assert not keys.is_well_formed(mutated), position


@pytest.mark.parametrize(
    "candidate",
    ["", "ug_", "sk-abc", "ug_" + "a" * 38, "UG_" + "a" * 38, "ug_" + "a" * 37 + "!", "ug_\r\n" + "a" * 36],
)
def test_malformed_candidates_are_refused(candidate: str) -> None:
    assert not keys.is_well_formed(candidate)


def test_only_a_sha256_is_derived_for_storage() -> None:
    key = keys.generate_key()
    digest = keys.hash_key(key)
    assert digest == hashlib.sha256(key.encode()).hexdigest()
    assert key not in digest
    assert keys.hashes_match(digest, keys.hash_key(key))
    assert not keys.hashes_match(digest, keys.hash_key(keys.generate_key()))


def test_hint_shows_only_the_last_four_characters() -> None:
    key = keys.generate_key()
    assert keys.hint(key) == "ug_..." + key[-4:]


@pytest.mark.parametrize(
    ("header", "token"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("Bearer abc", "abc"),
        ("bearer   abc  ", "abc"),
        ("Bearer", ""),
        ("Basic abc", ""),
        ("abc", ""),
    ],
)
def test_bearer_token_parsing(header: str | None, token: str | None) -> None:
    assert keys.bearer_token(header) == token
