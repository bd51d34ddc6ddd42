"""Demo scenario files: a scripted phone call to play without a phone.

A scenario is YAML with ``title``, ``caller`` (a phone number), optional ``desk``
and ``turns``: ``{speaker: caller | receptionist, at: seconds from call start,
text, loudness: dBFS (optional)}``.  This module owns the dataclasses and
``load_scenario``, whose errors name the file, the turn number and the field,
and the size limits (bytes, turns, characters per turn, length of the call),
and the JSON form ``POST /api/simulate`` takes (``scenario_to_json`` and
``scenario_from_json``, which validates with the same checks).  Playing a
scenario is ``voice.scenarios.player``'s job.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from voice.events import Speaker, is_speaker

SCENARIO_DIR = Path(__file__).parent  # the shipped *.yaml files sit beside this module
_PHONE = re.compile(r"^\+?[0-9][0-9 ().\-]{5,}$")
_TOP_KEYS = ("title", "caller", "desk", "turns")
_TURN_KEYS = ("speaker", "at", "text", "loudness")
MAX_SCENARIO_BYTES = 256 * 1024
MAX_TURNS = 500
MAX_TURN_CHARS = 2000
MAX_CALL_S = 3600.0


class ScenarioError(Exception):
    """A scenario file is wrong; the message names file, turn, field and line."""

    def __init__(
        self,
        file: str | Path,
        problem: str,
        turn: int | None = None,
        field: str | None = None,
        line: int | None = None,
    ) -> None:
        self.file, self.problem, self.turn, self.field, self.line = (
            str(file),
            problem,
            turn,
            field,
            line,
        )
        where = [self.file + (f":{line}" if line else "")]
        if turn is not None:
            where.append(f"turn {turn}")
        if field:
            where.append(f"field '{field}'")
        super().__init__(f"{': '.join(where)}: {problem}")


@dataclass(frozen=True)
class ScenarioTurn:
    """One line of the script: who speaks, when (seconds from call start), what."""

    speaker: Speaker
    at: float
    text: str
    loudness: float | None = None


@dataclass(frozen=True)
class Scenario:
    """A scripted call."""

    title: str
    caller: str
    desk: str | None
    turns: tuple[ScenarioTurn, ...]

    @property
    def duration_s(self) -> float:
        """Seconds from call start to the last turn."""
        return self.turns[-1].at if self.turns else 0.0


def shipped_scenarios() -> list[Path]:
    """The scenario files that ship with the package."""
    return sorted(SCENARIO_DIR.glob("*.yaml"))


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; raise ``ScenarioError`` if it is wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(path, f"cannot read: {err}") from None
    return parse_scenario(text, path)


def parse_scenario(text: str, source: str | Path,
                   max_bytes: int = MAX_SCENARIO_BYTES) -> Scenario:
    """Validate scenario YAML (or JSON, which is YAML) from ``source``, a name for errors.

    Refused before parsing: more than ``max_bytes``; while parsing: nesting deeper
    than the parser goes; after: more than ``MAX_TURNS`` turns or a turn's text
    over ``MAX_TURN_CHARS`` characters.
    """
    path = source
    size = len(text.encode("utf-8", "replace"))
    if size > max_bytes:
        raise ScenarioError(path, f"is {size} bytes; the limit is {max_bytes}")
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else None
        raise ScenarioError(path, f"not valid YAML: {err.problem or err}", line=line) from None
    except RecursionError:
        raise ScenarioError(path, "nested too deeply to be a scenario") from None
    if not isinstance(root, yaml.MappingNode):
        raise ScenarioError(path, "expected a mapping with title, caller and turns")
    top = _fields(root, path, _TOP_KEYS, None)
    return Scenario(
        title=_text(top, "title", path, None),
        caller=_phone(top, path),
        desk=_text(top, "desk", path, None) if "desk" in top else None,
        turns=_turns(top, path),
    )


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


def _fields(
    node: yaml.MappingNode, path: str | Path, allowed: tuple[str, ...], turn: int | None
) -> dict[str, yaml.Node]:
    out: dict[str, yaml.Node] = {}
    for key, value in node.value:
        name = str(key.value)
        if name not in allowed:
            raise ScenarioError(
                path, f"unknown field (allowed: {', '.join(allowed)})", turn, name, _line(key)
            )
        if name in out:
            raise ScenarioError(path, "given twice", turn, name, _line(key))
        out[name] = value
    return out


def _text(fields: dict[str, yaml.Node], name: str, path: str | Path, turn: int | None) -> str:
    node = fields.get(name)
    if node is None:
        raise ScenarioError(path, "missing", turn, name)
    if not isinstance(node, yaml.ScalarNode) or node.tag.endswith(":null"):
        raise ScenarioError(path, "must be text", turn, name, _line(node))
    if not str(node.value).strip():
        raise ScenarioError(path, "must not be empty", turn, name, _line(node))
    return str(node.value).strip()


def _phone(fields: dict[str, yaml.Node], path: str | Path) -> str:
    number = _text(fields, "caller", path, None)  # raw text, so +1555… stays as written
    if not _PHONE.match(number):
        raise ScenarioError(
            path, f"'{number}' is not a phone number", None, "caller", _line(fields["caller"])
        )
    return number


def _number(fields: dict[str, yaml.Node], name: str, path: str | Path, turn: int) -> float:
    node = fields[name]
    value = yaml.SafeLoader("").construct_object(node, deep=True)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(path, f"must be a number, got '{node.value}'", turn, name, _line(node))
    return float(value)


def _turns(top: dict[str, yaml.Node], path: str | Path) -> tuple[ScenarioTurn, ...]:
    node = top.get("turns")
    if not isinstance(node, yaml.SequenceNode) or not node.value:
        line = _line(node) if node is not None else None
        raise ScenarioError(path, "needs a non-empty list of turns", None, "turns", line)
    if len(node.value) > MAX_TURNS:
        raise ScenarioError(path, f"has {len(node.value)} turns; the limit is {MAX_TURNS}",
                            None, "turns", _line(node))
    turns: list[ScenarioTurn] = []
    for number, item in enumerate(node.value, start=1):
        turns.append(_turn(item, path, number, turns[-1].at if turns else 0.0))
    return tuple(turns)


def _turn(item: yaml.Node, path: str | Path, number: int, previous_at: float) -> ScenarioTurn:
    if not isinstance(item, yaml.MappingNode):
        raise ScenarioError(
            path, "must be a mapping of speaker, at, text", number, line=_line(item)
        )
    fields = _fields(item, path, _TURN_KEYS, number)
    for name in ("speaker", "at", "text"):
        if name not in fields:
            raise ScenarioError(path, "missing", number, name, _line(item))
    speaker = _text(fields, "speaker", path, number)
    if not is_speaker(speaker):
        raise ScenarioError(
            path,
            f"'{speaker}' is not caller or receptionist",
            number,
            "speaker",
            _line(fields["speaker"]),
        )
    at = _number(fields, "at", path, number)
    if at < 0:
        raise ScenarioError(path, "must not be negative", number, "at", _line(fields["at"]))
    if at > MAX_CALL_S:
        raise ScenarioError(path, f"is past the {MAX_CALL_S:g} s a scenario may last", number,
                            "at", _line(fields["at"]))
    if at < previous_at:
        raise ScenarioError(
            path,
            f"goes backwards ({at:g} s after {previous_at:g} s)",
            number,
            "at",
            _line(fields["at"]),
        )
    loudness = _number(fields, "loudness", path, number) if "loudness" in fields else None
    if loudness is not None and not -120.0 <= loudness <= 0.0:
        raise ScenarioError(
            path, "is dBFS, between -120 and 0", number, "loudness", _line(fields["loudness"])
        )
    text = _text(fields, "text", path, number)
    if len(text) > MAX_TURN_CHARS:
        raise ScenarioError(path, f"is {len(text)} characters; the limit is {MAX_TURN_CHARS}",
                            number, "text", _line(fields["text"]))
    return ScenarioTurn(speaker, at, text, loudness)


def scenario_to_json(scenario: Scenario) -> dict[str, Any]:
    """A scenario as the JSON body ``POST /api/simulate`` takes (the YAML's fields)."""
    body: dict[str, Any] = {"title": scenario.title, "caller": scenario.caller}
    if scenario.desk:
        body["desk"] = scenario.desk
    body["turns"] = [
        {k: v for k, v in vars(turn).items() if v is not None} for turn in scenario.turns
    ]
    return body


def scenario_from_json(data: Any, max_bytes: int | None = None) -> Scenario:
    """Validate a JSON scenario with the file validator; errors name the turn and field."""
    if not isinstance(data, dict):
        raise ScenarioError("request body", "expected a JSON object with title, caller and turns")
    try:
        text = json.dumps(data, indent=1)
    except RecursionError:
        raise ScenarioError("request body", "nested too deeply to be a scenario") from None
    if max_bytes is None:
        return parse_scenario(text, "request body")
    return parse_scenario(text, "request body", max_bytes=max_bytes)
