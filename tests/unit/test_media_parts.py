"""What the hold counts beyond bytes (issue #29), in each wire format's own shapes: images at the catalog's
per-image maximum, documents, audio and video at the context window (unigate.gateway.chat.input_bound)."""

from __future__ import annotations

from typing import Any

import pytest

from unigate.domain import tokens

PDF = "JVBERi0xLjQK"
IMAGE, DOCUMENT, NEITHER = (1, 0), (0, 1), (0, 0)
PARTS: list[tuple[str, Any, tuple[int, int]]] = [
    ("openai image_url", {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}, IMAGE),
    ("openai file_data", {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PDF}"}}, DOCUMENT),
    ("openai file_id", {"type": "file", "file": {"file_id": "file-abc"}}, DOCUMENT),
    ("openai input_audio", {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}, DOCUMENT),
    ("responses input_image", {"type": "input_image", "image_url": "https://example.com/a.png"}, IMAGE),
    ("responses input_file by id", {"type": "input_file", "file_id": "file-abc"}, DOCUMENT),
    ("responses input_file by url", {"type": "input_file", "file_url": "https://example.com/a.pdf"}, DOCUMENT),
    ("responses input_file data", {"type": "input_file", "file_data": f"data:application/pdf;base64,{PDF}"},
     DOCUMENT),
    ("anthropic image", {"type": "image", "source": {"type": "url", "url": "https://example.com/a.png"}}, IMAGE),
    ("anthropic image by file", {"type": "image", "source": {"type": "file", "file_id": "file_1"}}, IMAGE),
    ("anthropic document url", {"type": "document", "source": {"type": "url", "url": "https://e.com/a.pdf"}},
     DOCUMENT),
    ("anthropic document base64", {"type": "document", "source": {"type": "base64", "media_type": "application/pdf",
                                                                  "data": PDF}}, DOCUMENT),
    ("anthropic document by file", {"type": "document", "source": {"type": "file", "file_id": "file_1"}}, DOCUMENT),
    ("anthropic document text", {"type": "document", "source": {"type": "text", "media_type": "text/plain",
                                                                "data": "words"}}, NEITHER),
    ("anthropic document content with an image", {"type": "document", "source": {"type": "content", "content": [
        {"type": "image", "source": {"type": "url", "url": "https://e.com/a.png"}}]}}, IMAGE),
    ("gemini inline image", {"inlineData": {"mimeType": "image/png", "data": PDF}}, IMAGE),
    ("gemini inline PDF", {"inlineData": {"mimeType": "application/pdf", "data": PDF}}, DOCUMENT),
    ("gemini file audio", {"fileData": {"mimeType": "audio/mp3", "fileUri": "gs://b/a.mp3"}}, DOCUMENT),
    ("gemini snake case video", {"file_data": {"mime_type": "video/mp4", "file_uri": "gs://b/a.mp4"}}, DOCUMENT),
    ("bedrock image", {"image": {"format": "png", "source": {"bytes": b"\x89PNG"}}}, IMAGE),
    ("bedrock document", {"document": {"format": "pdf", "name": "a", "source": {"bytes": b"%PDF"}}}, DOCUMENT),
    ("bedrock video", {"video": {"format": "mp4", "source": {"s3Location": {"uri": "s3://b/a.mp4"}}}}, DOCUMENT),
    # A tool's JSON schema with properties named like parts is neither.
    ("schema", {"type": "object", "properties": {"type": {"type": "string"}, "file": {"type": "string"},
                                                 "image": {"type": "object"}}}, NEITHER),
    ("text", {"type": "text", "text": "a file, an image"}, NEITHER),
]


@pytest.mark.parametrize(("part", "expected"), [(p, e) for _, p, e in PARTS], ids=[name for name, _, _ in PARTS])
def test_each_part_is_counted_once_as_what_it_is(part: Any, expected: tuple[int, int]) -> None:
    assert tokens.media_parts({"messages": [{"role": "user", "content": [{"type": "text", "text": "?"}, part]}]}) \
        == expected


def test_parts_are_counted_at_any_depth() -> None:
    nested = {"contents": [{"parts": [{"inlineData": {"mimeType": "application/pdf", "data": PDF}},
                                      {"inlineData": {"mimeType": "image/jpeg", "data": PDF}}]}],
              "messages": [{"role": "user", "content": [{"type": "tool_result", "content": [
                  {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PDF}},
                  {"type": "document", "source": {"type": "url", "url": "https://e.com/a.pdf"}}]}]}]}
    assert tokens.media_parts(nested) == (2, 2)
