"""Issue #29: a provider credential split across streamed chunks is scrubbed too; everything else passes at once."""

from __future__ import annotations

import itertools

import pytest

from unigate.providers.base import StreamScrubber

KEY = "sk-canary-openai-0123456789"


def _through(pieces: list[str], secrets: list[str] | None = None) -> list[str]:
    scrubber = StreamScrubber(secrets if secrets is not None else [KEY])
    out = [scrubber.feed("content", piece) for piece in pieces]
    return [*out, scrubber.flush("content")]


@pytest.mark.parametrize("cuts", [[3], [1, 26], [5, 12, 20], list(range(1, 27))])
def test_a_key_split_anywhere_is_scrubbed(cuts: list[int]) -> None:
    text = f"your key is {KEY}, keep it"
    start = len("your key is ")
    bounds = [0, *(start + cut for cut in cuts), len(text)]
    out = _through([text[a:b] for a, b in itertools.pairwise(bounds)])
    assert "".join(out) == "your key is [REDACTED], keep it"
    assert not any(KEY[:6] in piece for piece in out)


def test_text_that_cannot_begin_a_key_is_never_held_back() -> None:
    pieces = ["fake ", "reply ", "to: ", "scenario:paced"]
    assert _through(pieces) == [*pieces, ""]


def test_only_what_could_begin_a_key_waits_for_the_next_chunk() -> None:
    scrubber = StreamScrubber([KEY])
    assert scrubber.feed(0, "tasks-can") == "tasks-can"  # no end of it begins the key
    assert scrubber.feed(0, " task sk-can") == " task "
    assert scrubber.feed(0, "not wait") == "sk-cannot wait"
    assert scrubber.feed(0, "ask-ca") == "a"
    assert scrubber.flush(0) == "sk-ca"  # the stream ended: it was not a key


def test_channels_are_kept_apart_and_nothing_is_held_without_secrets() -> None:
    scrubber = StreamScrubber([KEY])
    assert scrubber.feed((0, "content"), "x sk-can") == "x "
    assert scrubber.feed((1, "content"), "ary") == "ary"
    assert scrubber.channels() == [(0, "content")]
    scrubber.drop()
    assert scrubber.channels() == []
    assert _through(["sk-can", "ary"], secrets=[]) == ["sk-can", "ary", ""]
