"""README is a landing page and the docs hold together: README stays short and tells no development history,
every relative link in README and docs/ reaches a file (and, with ``#anchor``, a heading) that exists, and
every command README shows in a shell block can run: its make target exists, its module answers ``--help``,
its curl names a route the service declares."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from service.predict.app import DOCUMENT as PREDICT_DOCUMENT
from service.train.app import DOCUMENT as TRAIN_DOCUMENT
from tests.conftest import ROOT

README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
PAGES = [README, *DOCS]
MAX_README_LINES = 300
HISTORY = re.compile(r"(?i)\bsessions?\s+\d+")
LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")
SHELL_BLOCK = re.compile(r"^```(?:sh|bash|shell)\s*$")
# commands a shell block may show that need no check of their own
PLAIN = {"cd", "git", "export", "open", "xdg-open"}


def _prose(text: str) -> list[str]:
    """The lines outside fenced code blocks, as '' inside them (so line numbers keep)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            lines.append("")
        else:
            lines.append("" if fenced else line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation but - and _ removed, spaces to -."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for line in _prose(page.read_text()):
        heading = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            base = slug(heading.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
            found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[tuple[int, str]]:
    return [
        (number, target)
        for number, line in enumerate(_prose(page.read_text()), 1)
        for target in LINK.findall(re.sub(r"`[^`]*`", "", line))
    ]


def shell_commands(page: Path) -> list[str]:
    """Each command of README's ```sh/```bash blocks: comments, prompts and line continuations undone,
    ``a && b`` split in two."""
    commands, inside, pending = [], False, ""
    for line in page.read_text().splitlines():
        if not inside:
            inside = bool(SHELL_BLOCK.match(line))
            continue
        if FENCE.match(line):
            inside = False
            continue
        line = pending + re.sub(r"^\$\s+", "", line.strip())
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        pending = ""
        code = " ".join(shlex.split(line, comments=True))
        commands += [part.strip() for part in re.split(r"&&|\|\||;|\|", code) if part.strip()]
    return commands


def make_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z0-9_.-]+)\s*:(?!=)", (ROOT / "Makefile").read_text(), re.MULTILINE))


def declared_paths() -> list[re.Pattern[str]]:
    paths = {path for document in (PREDICT_DOCUMENT, TRAIN_DOCUMENT) for path in document["paths"]}
    return [re.compile("^" + re.sub(r"\\\{\w+\\\}", r"[^/]+", re.escape(path)) + "$") for path in paths]


def test_readme_is_a_short_landing_page_without_history():
    text = README.read_text()
    lines = len(text.splitlines())
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines, a landing page at most {MAX_README_LINES}"
    assert "session" not in text.lower(), "README.md tells development history (a 'session')"
    for page in DOCS:
        found = HISTORY.search(page.read_text())
        assert found is None, f"{page.relative_to(ROOT)} tells development history: {found.group(0)!r}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_reaches_a_file_and_heading_that_exist(page):
    broken = []
    for number, target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
            continue  # http:, https:, mailto:
        path, _, anchor = target.partition("#")
        reached = (page.parent / unquote(path)).resolve() if path else page
        if not reached.exists():
            broken.append(f"line {number}: {target} (no such file)")
        elif anchor and reached.suffix == ".md" and unquote(anchor).lower() not in anchors(reached):
            broken.append(f"line {number}: {target} (no such heading in {reached.relative_to(ROOT)})")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_readme_shows_shell_commands():
    assert shell_commands(README), "README.md shows no command in a ```sh block"


def _check(command: str) -> None:
    words = shlex.split(command)
    while words and re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", words[0]):
        words = words[1:]  # PREDICT_PORT=9090 make run
    assert words, command
    program = Path(words[0]).name
    if program == "make":
        targets = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        missing = set(targets) - make_targets()
        assert not missing, f"{command}: no such make target {sorted(missing)}"
    elif re.fullmatch(r"python3?(\.\d+)?", program) and words[1:2] == ["-m"]:
        module, rest = words[2], words[3:]
        subcommands = []
        for word in rest:
            if not re.fullmatch(r"[a-z][a-z_-]*", word):
                break
            subcommands.append(word)
        run = subprocess.run(
            [sys.executable, "-m", module, *subcommands, "--help"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, f"{command}: `{module} {' '.join(subcommands)} --help` failed: {run.stderr[-500:]}"
    elif program == "curl":
        urls = [w for w in words[1:] if re.match(r"^(https?://)?[\w.-]+:\d+(/|\?|$)", w)]
        assert urls, f"{command}: no URL"
        for url in urls:
            path = urlsplit(url if "://" in url else "http://" + url).path or "/"
            assert any(p.match(path) for p in declared_paths()), f"{command}: {path} is no declared route"
        for word in words[1:]:
            upload = re.match(r"^\w+=@([^;]+)", word)
            if upload:
                assert (ROOT / upload.group(1)).exists(), f"{command}: {upload.group(1)} does not exist"
    else:
        assert program in PLAIN, f"{command}: README shows a command this test does not know how to check"


def test_every_command_readme_shows_can_run():
    failures = []
    for command in shell_commands(README):
        try:
            _check(command)
        except AssertionError as failure:
            failures.append(str(failure))
    assert not failures, "\n".join(failures)


def test_the_slugs_follow_githubs_rules():
    assert slug("Limits and failure behaviour") == "limits-and-failure-behaviour"
    assert slug("Performance targets (issues 5 and 16) against these figures") == (
        "performance-targets-issues-5-and-16-against-these-figures"
    )
    assert slug("`make mutate`") == "make-mutate"
    assert slug("Not a digit, and calibrated confidence") == "not-a-digit-and-calibrated-confidence"
