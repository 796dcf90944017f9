"""The examples of the README and of docs/examples.md, each file's run in order against a fresh local server of
its own, print what the page says.

A ```python block followed by a ```text block must print exactly that text (a block that does not start with
an import goes on from the python block before it). In a ```sh block, the `#` lines
right after a command are what it prints (a blank line ends them): `...` stands for any text, and a line
starting `#  ` (two spaces) continues the line before it. Only `http://127.0.0.1:3000` and the key `ug_...`
are replaced, by the test server's URL and demo key (`$KEY` in a sh block is the demo key too).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.e2e.conftest import LocalServer, start_server, stop_server

PAGES = (ROOT / "README.md", ROOT / "docs" / "examples.md")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Example:
    page: Path
    kind: str
    code: str
    expected: str | None
    line: int
    setup: str = ""  # for a python block that goes on from the one before (it does not start with an import)


def examples(page: Path) -> list[Example]:
    text = page.read_text()
    blocks = list(FENCE.finditer(text))
    found = []
    for index, block in enumerate(blocks):
        kind, code = block.group(1), block.group(2)
        line = text.count("\n", 0, block.start()) + 1
        after = blocks[index + 1] if index + 1 < len(blocks) else None
        if kind == "python":
            output = (after.group(2) if after is not None and after.group(1) == "text"
                      and not text[block.end():after.start()].strip() else None)
            before = next((e for e in reversed(found) if e.kind == "python"), None)
            setup = before.setup + before.code if before and not code.startswith(("import", "from")) else ""
            found.append(Example(page, kind, code, output, line, setup))
        elif kind == "sh" and ("curl" in code or "unigate --local" in code):
            found.append(Example(page, kind, code, None, line))
    return found


def _commands(code: str) -> Iterator[tuple[str, list[str]]]:
    """(command, the output lines its comments show) for each command of a sh block."""
    command: list[str] = []
    output: list[str] = []
    for raw in code.splitlines():
        if not raw.strip():  # a blank line ends a command's output; comments after it are prose
            if command:
                yield "\n".join(command), output
            command, output = [], []
            continue
        if raw.startswith("#"):
            if command:
                body = raw[1:]
                if body.startswith("  ") and output:
                    output[-1] += body.strip()
                else:
                    output.append(body.strip())
            continue
        if command and not command[-1].endswith("\\"):
            yield "\n".join(command), output
            command, output = [], []
        command.append(raw.rstrip())
    if command:
        yield "\n".join(command), output


def _matches(expected: str, actual: str) -> bool:
    pattern = ".*?".join(re.escape(part) for part in expected.split("..."))
    return re.fullmatch(pattern, actual, re.DOTALL) is not None


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[Path, tuple[LocalServer, str]]]:
    """One fresh server per page, started by the page's first example."""
    started: dict[Path, tuple[LocalServer, str]] = {}
    yield started
    for local, _ in started.values():
        stop_server(local)


def _server_for(page: Path, started: dict[Path, tuple[LocalServer, str]],
                tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalServer, str]:
    if page not in started:
        state_dir = tmp_path_factory.mktemp(page.stem)
        local = start_server(state_dir, {})
        started[page] = local, re.findall(r"demo key\s+(ug_\w+)", (state_dir / "server.log").read_text())[-1]
    return started[page]


def _localised(code: str, server: LocalServer, key: str) -> str:
    return code.replace("http://127.0.0.1:3000", server.url).replace("ug_...", key)


@pytest.mark.parametrize("example", [e for page in PAGES for e in examples(page)],
                         ids=lambda e: f"{e.page.relative_to(ROOT)}:{e.line}")
def test_the_documented_example_prints_what_it_says(example: Example, servers: dict[Path, tuple[LocalServer, str]],
                                                   tmp_path_factory: pytest.TempPathFactory) -> None:
    server, key = _server_for(example.page, servers, tmp_path_factory)
    env = {**os.environ, "UNIGATE_STATE_DIR": str(server.state_dir), "KEY": key,
           "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    code = _localised(example.code, server, key)
    if example.kind == "python":
        setup = _localised(example.setup, server, key)
        script = f"import contextlib, io\nwith contextlib.redirect_stdout(io.StringIO()):\n    exec({setup!r})\n{code}"
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60,
                              check=False)
        assert done.returncode == 0, done.stderr
        if example.expected is not None:
            assert _matches(example.expected.rstrip("\n"), done.stdout.rstrip("\n")), done.stdout
        return
    for command, output in _commands(code):
        if command.startswith("KEY="):
            continue  # the key is in the environment
        done = subprocess.run(["bash", "-c", command.replace(".venv/bin/", "")], capture_output=True, text=True,
                              env=env, cwd=ROOT, timeout=60, check=False)
        assert done.returncode == 0, (command, done.stderr)
        if output:
            assert _matches("\n".join(output), done.stdout.strip()), (command, done.stdout)
