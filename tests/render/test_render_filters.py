"""The template filters: shell quoting and comment-safe text."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from muslin.render.templates import json_value, one_line, sh_join, sh_quote


@pytest.mark.parametrize(
    "value",
    [
        "plain", "python3~3.11", "https://pypi.org/simple/", "--only-binary=:all:", "",
        "~root", "a=~/x", "x:~", "it's", "$(touch /tmp/pwned)", "a;b", "`id`", "a b", "a\nb",
        "*", "?", "[a]", "{a,b}", "!x", "a&b", "a|b", "a>b", "#c", "\\", '"', "$HOME", "é",
    ],
)
def test_sh_quote_round_trips_through_a_real_shell(value: str) -> None:
    quoted = sh_quote(value)
    assert shlex.split(quoted) == [value] or (value == "" and quoted == "''")
    out = subprocess.run(["/bin/sh", "-c", f"printf '%s' {quoted}"], capture_output=True, text=True, check=True)
    assert out.stdout == value


def test_safe_words_stay_readable() -> None:
    assert sh_join(["apk", "add", "python3~3.11", "py3-pip~23.1"]) == "apk add python3~3.11 py3-pip~23.1"
    assert sh_quote("a=~/x") == "'a=~/x'"
    assert sh_quote("~x") == "'~x'"


def test_one_line_and_json() -> None:
    assert one_line("a\nRUN b\r\t\x7f") == "a\\x0aRUN b\\x0d\\x09\\x7f"
    assert json_value(["/bin/sh", "-c", 'echo "é"\n']) == '["/bin/sh", "-c", "echo \\"é\\"\\n"]'
