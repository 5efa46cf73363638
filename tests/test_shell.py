"""``make shell`` in a pseudo-terminal: a shopper types a search, a pick, a change and a like into
``rasa shell`` (started by the Makefile target through ``bot.launch shell``, against the action server
serving the fake engine) and reads the answers back from the terminal.

The target's ``build`` prerequisite is skipped (``make -o build``): it would build the demo catalog and
engine, which the fake engine does not need; the Rasa model is the one the other stack tests use.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pexpect
import pytest
from conftest import REPO, _rasa_model

from bot.launch import free_port

pytestmark = pytest.mark.stack

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")
PROMPT = "Your input ->"


def plain(text: str) -> str:
    """Terminal output without colour and cursor control sequences."""
    return ANSI.sub("", text)


class Terminal:
    """A shopper at ``make shell``: types a line, reads what came back until the next prompt."""

    def __init__(self, child: pexpect.spawn) -> None:
        self.child = child

    def say(self, text: str, expect: str, timeout: float = 90) -> str:
        """Type ``text`` + Enter; return the answer (plain text) once ``expect`` (a regex) and the prompt came."""
        self.child.sendline(text)
        self.child.expect(expect, timeout=timeout)
        answer = plain(str(self.child.before) + str(self.child.after))
        self.child.expect_exact(PROMPT, timeout=timeout)
        return answer + plain(str(self.child.before))


def test_make_shell_search_pick_change_like(tmp_path: Path) -> None:
    model = _rasa_model()
    env = {
        **os.environ,
        "TAILOR_FAKE_ENGINE": "1",
        "TAILOR_PAGE_SIZE": "4",
        "TAILOR_ACTION_PORT": str(free_port()),
        "TAILOR_RASA_PORT": str(free_port()),
        "TAILOR_LOG_DIR": str(tmp_path),
        "PROMPT_TOOLKIT_NO_CPR": "1",  # the pty answers no cursor-position requests
        "RASA_TELEMETRY_ENABLED": "false",
    }
    cmd = ["--no-print-directory", "-o", "build", "shell", f"RASA_MODEL={model}"]
    child = pexpect.spawn("make", cmd, cwd=str(REPO), env=env, encoding="utf-8", dimensions=(60, 220), timeout=240)
    child.logfile_read = (tmp_path / "terminal.log").open("w")
    try:
        child.expect("Bot loaded", timeout=300)  # the action server is up first, then rasa shell loads the model
        child.expect_exact(PROMPT)
        shop = Terminal(child)

        found = shop.say("show me black dresses", r"Pick one")
        assert "Here are 4 results" in found
        titles = re.findall(r"^([1-4])\. (.+)$", found, re.MULTILINE)
        assert [n for n, _ in titles] == ["1", "2", "3", "4"], found
        assert found.count("Image: http") == 4 and found.count("Buttons:") == 4
        assert re.search(r'1: Select \(/select\{"product": "[^"]+"\}\)', found)
        second = titles[1][1].strip()

        picked = shop.say("the second one", r"You picked #2")
        assert f"You picked #2: {second}" in picked

        changed = shop.say("like this but in red", r"Pick one")
        assert f'Like "{second}" but red:' in changed
        assert len(re.findall(r"^[1-4]\. ", changed, re.MULTILINE)) == 4

        liked = shop.say("I like the first one", r"Glad you like")
        first = re.findall(r"^1\. (.+)$", changed, re.MULTILINE)[0].strip()
        assert f'Glad you like #1 "{first}"' in liked

        child.sendline("/stop")
        child.expect(pexpect.EOF, timeout=60)  # rasa shell ends, the launcher stops the action server
    finally:
        child.close(force=True)
    assert child.exitstatus == 0, (tmp_path / "terminal.log").read_text()[-3000:]
