"""Title patterns a client gives a subscription: bounded regular expressions, refused when
they could backtrack catastrophically, since a worker runs them on every listed title.

Two checks, both must pass:
- a static reading of the parsed pattern (`re._parser`) refuses what makes backtracking
  exponential: a repeated group that holds another repeat (`(a+)+`, `(a*)*`), a repeated
  alternation whose branches may start alike (`(a|ab)*`, `(a|a)*`), and back-references;
- the pattern is then run, in a separate process with a time bound, against long strings
  made of its own characters, so whatever the static reading misses is caught by its cost.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from re import _constants as sre_constants  # type: ignore[attr-defined, unused-ignore]
from re import _parser as sre_parser  # type: ignore[attr-defined, unused-ignore]
from typing import Any

MAX_PATTERN_LENGTH = 200
MAX_TITLE_CHARS = 500  # what a pattern is ever matched against
PROBE_SECONDS = 2.0
_PROBE_LENGTH = 5000

_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT}
_POSSESSIVE = getattr(sre_constants, "POSSESSIVE_REPEAT", None)
_PROBE = """
import json, re, sys
pattern, subjects = json.loads(sys.stdin.read())
compiled = re.compile(pattern, re.IGNORECASE)
for subject in subjects:
    compiled.search(subject)
"""


class UnsafePattern(ValueError):
    """Why a pattern is refused (the message is shown to the client)."""


def check_pattern(pattern: str) -> str:
    """The pattern, when it is short, valid and safe to run; else `UnsafePattern`. Blocks
    up to PROBE_SECONDS: the API calls it in a thread."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise UnsafePattern(f"a title pattern has at most {MAX_PATTERN_LENGTH} characters")
    try:
        parsed = sre_parser.parse(pattern, re.IGNORECASE)
    except re.error as exc:
        raise UnsafePattern(f"not a valid regular expression: {exc}") from exc
    _check_tree(list(parsed), inside_repeat=False)
    _probe(pattern, _subjects(pattern))
    return pattern


def matches(pattern: str, title: str) -> bool:
    return re.search(pattern, title[:MAX_TITLE_CHARS], re.IGNORECASE) is not None


def _check_tree(items: list[tuple[Any, Any]], *, inside_repeat: bool) -> None:
    for op, value in items:
        if op in _REPEATS or (_POSSESSIVE is not None and op is _POSSESSIVE):
            _low, high, body = value
            repeats = high is sre_constants.MAXREPEAT or high > 1
            if repeats and inside_repeat:
                raise UnsafePattern("nested quantifiers such as (a+)+ may backtrack forever")
            _check_tree(list(body), inside_repeat=inside_repeat or repeats)
        elif op is sre_constants.SUBPATTERN:
            _check_tree(list(value[-1]), inside_repeat=inside_repeat)
        elif op is sre_constants.BRANCH:
            branches = [list(branch) for branch in value[1]]
            if inside_repeat and not _distinct_starts(branches):
                raise UnsafePattern(
                    "a repeated alternation whose branches may match alike, such as (a|ab)*, "
                    "may backtrack forever"
                )
            for branch in branches:
                _check_tree(branch, inside_repeat=inside_repeat)
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            _check_tree(list(value[1]), inside_repeat=inside_repeat)
        elif op in (sre_constants.GROUPREF, sre_constants.GROUPREF_EXISTS):
            raise UnsafePattern("back-references are not allowed in title patterns")


def _distinct_starts(branches: list[list[tuple[Any, Any]]]) -> bool:
    """Whether each branch starts with a different literal (conservative: anything else,
    a class or a group first, counts as possibly alike)."""
    firsts = []
    for branch in branches:
        if not branch or branch[0][0] is not sre_constants.LITERAL:
            return False
        firsts.append(chr(branch[0][1]).lower())
    return len(set(firsts)) == len(firsts)


def _subjects(pattern: str) -> list[str]:
    characters = {char for char in pattern if char.isalnum() or char in " -_.,!?"} | {"a", "0", " "}
    return [char * _PROBE_LENGTH + "\x00" for char in sorted(characters)][:40]


def _probe(pattern: str, subjects: list[str]) -> None:
    try:
        subprocess.run(
            [sys.executable, "-I", "-S", "-c", _PROBE],
            input=json.dumps([pattern, subjects]),
            text=True,
            capture_output=True,
            timeout=PROBE_SECONDS,
            check=True,
        )
    except subprocess.TimeoutExpired as exc:
        raise UnsafePattern("the pattern takes too long on long titles") from exc
    except subprocess.CalledProcessError as exc:
        raise UnsafePattern("the pattern could not be run") from exc
