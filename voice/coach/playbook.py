"""The coaching playbook: what it holds, loading and validating it, live reload.

The playbook lives in ``prompts/*.yaml``.  Each file is a mapping with any of the
sections ``stages`` (the steps of handling an upset caller, in order), ``topics``
(what the call is about: keywords plus example sentences), ``prompts`` (the cards)
and ``pacing`` (cooldowns, at most once across all files).  This module owns the
dataclasses for those, ``load_playbook`` (every error names file, line and what is
wrong) and ``PlaybookWatcher`` (reload on change, keep the last good playbook).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from voice.coach.slots import Template, TemplateError, parse_template
from voice.coach.yamlnodes import MapNode, YamlProblem, compose_file, node_line
from voice.events import LEVELS, Level

log = logging.getLogger(__name__)

KINDS = ("calm", "listen", "empathize", "confirm", "own", "next_step", "close", "coach")
SPEAKERS = ("caller", "receptionist")


class PlaybookError(YamlProblem):
    """A playbook file is broken: names the file, the line and what is wrong."""


@dataclass(frozen=True)
class Source:
    """Where something was defined (for error messages and the manager's view)."""

    file: str
    line: int


@dataclass(frozen=True)
class Stage:
    """One step of handling an upset caller; ``covered_by`` spots it in the desk's words.

    A ``skippable`` stage counts as passed once the receptionist covers a later one.
    """

    id: str
    title: str
    order: int
    covered_by: tuple[re.Pattern[str], ...] = ()
    covered_when_name_used: bool = False
    skippable: bool = False
    source: Source = Source("", 0)


@dataclass(frozen=True)
class Topic:
    """What a call is about: keyword patterns and example sentences for similarity."""

    id: str
    label: str
    keywords: tuple[re.Pattern[str], ...]
    examples: tuple[str, ...]
    source: Source = Source("", 0)


@dataclass(frozen=True)
class Conditions:
    """When a prompt may fire; every condition that is set must hold."""

    level_at_least: Level | None = None
    level_at_most: Level | None = None
    peak_at_least: Level | None = None
    rising: bool | None = None
    topics: tuple[str, ...] = ()
    topic_known: bool | None = None
    name_known: bool | None = None
    name_unused_turns: int | None = None
    speaker: str | None = None
    said: tuple[re.Pattern[str], ...] = ()
    after: tuple[str, ...] = ()
    min_call_s: float | None = None


@dataclass(frozen=True)
class PromptSpec:
    """One prompt card of the playbook (the engine turns it into ``events.Prompt``).

    ``paced: false`` lets a card skip the cooldowns (for reactions to the
    receptionist's own words, which only help at once); it still counts for others.
    """

    id: str
    kind: str
    text: Template
    why: str
    when: Conditions
    stage: str | None = None
    priority: int = 0
    done_when: tuple[re.Pattern[str], ...] = ()
    once_per_stage: bool = True
    paced: bool = True
    source: Source = Source("", 0)


@dataclass(frozen=True)
class Pacing:
    """Cooldowns, in seconds of call time, that keep the screen to a card or two."""

    min_gap_s: float = 5.0
    stage_gap_s: float = 8.0
    max_cards: int = 2
    window_s: float = 20.0
    max_per_event: int = 1


@dataclass(frozen=True)
class Playbook:
    """The whole validated playbook: stages in order, topics, prompts, pacing."""

    stages: tuple[Stage, ...]
    topics: tuple[Topic, ...]
    prompts: tuple[PromptSpec, ...]
    pacing: Pacing = field(default_factory=Pacing)
    files: tuple[str, ...] = ()

    def stage_order(self, stage_id: str | None) -> int:
        """Position of a stage (stage-less prompts sort after all stages)."""
        for stage in self.stages:
            if stage.id == stage_id:
                return stage.order
        return len(self.stages)

    def topic(self, topic_id: str | None) -> Topic | None:
        """The topic with this id, if any."""
        return next((t for t in self.topics if t.id == topic_id), None)


# --- sections -----------------------------------------------------------------------------

_STAGE_KEYS = ("id", "title", "covered_by", "covered_when_name_used", "skippable")
_TOPIC_KEYS = ("id", "label", "keywords", "examples")
_PROMPT_KEYS = tuple("id kind stage text why when priority done_when once_per_stage paced".split())
_WHEN_KEYS = tuple(
    """level_at_least level_at_most peak_at_least rising topic topic_known name_known
    name_unused_turns speaker said after min_call_s""".split()
)
_PACING_KEYS = ("min_gap_s", "stage_gap_s", "max_cards", "window_s", "max_per_event")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")


def _map(node: yaml.Node, file: str, what: str) -> MapNode:
    return MapNode(node, file, what, PlaybookError)


def _ident(m: MapNode) -> str:
    value = m.text("id") or ""
    if not _ID.match(value):
        raise m.fail("id", f"id '{value}' must be lowercase letters, digits and _")
    return value


def _stage(m: MapNode, order: int) -> Stage:
    m.only(_STAGE_KEYS)
    return Stage(
        id=_ident(m),
        title=m.text("title") or "",
        order=order,
        covered_by=m.patterns("covered_by"),
        covered_when_name_used=bool(m.flag("covered_when_name_used", False)),
        skippable=bool(m.flag("skippable", False)),
        source=Source(m.file, node_line(m.node)),
    )


def _topic(m: MapNode) -> Topic:
    m.only(_TOPIC_KEYS)
    keywords = m.patterns("keywords")
    examples = tuple(text for text, _ in m.texts("examples"))
    if not keywords and not examples:
        raise m.fail(None, "a topic needs 'keywords' or 'examples'")
    source = Source(m.file, node_line(m.node))
    return Topic(_ident(m), m.text("label") or "", keywords, examples, source)


def _conditions(m: MapNode) -> Conditions:
    m.only(_WHEN_KEYS)
    return Conditions(
        level_at_least=m.choice("level_at_least", LEVELS),  # type: ignore[arg-type]
        level_at_most=m.choice("level_at_most", LEVELS),  # type: ignore[arg-type]
        peak_at_least=m.choice("peak_at_least", LEVELS),  # type: ignore[arg-type]
        rising=m.flag("rising"),
        topics=tuple(text for text, _ in m.texts("topic")),
        topic_known=m.flag("topic_known"),
        name_known=m.flag("name_known"),
        name_unused_turns=m.integer("name_unused_turns", None, minimum=1),
        speaker=m.choice("speaker", SPEAKERS),
        said=m.patterns("said"),
        after=tuple(text for text, _ in m.texts("after")),
        min_call_s=m.number("min_call_s", None),
    )


def _prompt(m: MapNode) -> PromptSpec:
    m.only(_PROMPT_KEYS)
    when_node = m.items.get("when")
    when = _conditions(_map(when_node, m.file, f"{m.what} when")) if when_node else Conditions()
    raw = m.text("text") or ""
    try:
        template = parse_template(raw, guaranteed=_guaranteed_slots(when))
    except TemplateError as err:
        raise m.fail("text", str(err)) from None
    if when.said and not when.speaker:
        raise m.fail("when", "'said' needs 'speaker' (whose words to match)")
    return PromptSpec(
        id=_ident(m),
        kind=m.choice("kind", KINDS, required=True) or "",
        text=template,
        why=m.text("why") or "",
        when=when,
        stage=m.text("stage", required=False),
        priority=m.integer("priority", 0) or 0,
        done_when=m.patterns("done_when"),
        once_per_stage=bool(m.flag("once_per_stage", True)),
        paced=bool(m.flag("paced", True)),
        source=Source(m.file, node_line(m.node)),
    )


def _guaranteed_slots(when: Conditions) -> frozenset[str]:
    """Slots the conditions promise are filled, so they may stand outside ``[ ]``."""
    slots = set()
    if when.name_known or when.name_unused_turns:
        slots |= {"caller_name", "first_name"}
    if when.topics or when.topic_known:
        slots.add("topic")
    return frozenset(slots)


def _pacing(m: MapNode) -> Pacing:
    m.only(_PACING_KEYS)
    base = Pacing()
    return Pacing(
        min_gap_s=m.number("min_gap_s", base.min_gap_s) or 0.0,
        stage_gap_s=m.number("stage_gap_s", base.stage_gap_s) or 0.0,
        max_cards=m.integer("max_cards", base.max_cards, minimum=1) or 1,
        window_s=m.number("window_s", base.window_s) or 0.0,
        max_per_event=m.integer("max_per_event", base.max_per_event, minimum=1) or 1,
    )


# --- loading ------------------------------------------------------------------------------


@dataclass
class _Parts:
    stages: list[Stage] = field(default_factory=list)
    topics: list[Topic] = field(default_factory=list)
    prompts: list[PromptSpec] = field(default_factory=list)
    pacing: Pacing | None = None
    refs: list[tuple[str, int, str, str]] = field(default_factory=list)  # file, line, kind, id


def load_playbook(folder: str | Path) -> Playbook:
    """Load and validate every ``*.yaml`` in ``folder``; raise ``PlaybookError`` if broken."""
    folder = Path(folder)
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise PlaybookError(folder, 0, "no playbook files (*.yaml) in this folder")
    parts = _Parts()
    for path in files:
        _read_file(path, parts)
    _check_references(parts)
    if not any(p.stage for p in parts.prompts):
        raise PlaybookError(folder, 0, "the playbook has no stage prompts")
    return Playbook(
        stages=tuple(parts.stages),
        topics=tuple(parts.topics),
        prompts=tuple(parts.prompts),
        pacing=parts.pacing or Pacing(),
        files=tuple(str(p) for p in files),
    )


def _read_file(path: Path, parts: _Parts) -> None:
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise PlaybookError(file, 0, f"cannot read: {err}") from None
    root = compose_file(text, file, PlaybookError)
    if root is None:
        return
    top = _map(root, file, "file")
    top.only(("stages", "topics", "prompts", "pacing"))
    for key, node in top.items.items():
        _read_section(key, node, file, parts)


def _read_section(key: str, node: yaml.Node, file: str, parts: _Parts) -> None:
    if key == "pacing":
        if parts.pacing is not None:
            raise PlaybookError(file, node_line(node), "'pacing' is set in more than one file")
        parts.pacing = _pacing(_map(node, file, "pacing"))
        return
    if not isinstance(node, yaml.SequenceNode):
        raise PlaybookError(file, node_line(node), f"'{key}' must be a list")
    for index, item in enumerate(node.value, start=1):
        m = _map(item, file, f"{key} #{index}")
        if key == "stages":
            parts.stages.append(_stage(m, len(parts.stages)))
        elif key == "topics":
            parts.topics.append(_topic(m))
        else:
            parts.prompts.append(_prompt(m))
            _collect_refs(parts.prompts[-1], parts)


def _collect_refs(spec: PromptSpec, parts: _Parts) -> None:
    file, line = spec.source.file, spec.source.line
    if spec.stage:
        parts.refs.append((file, line, "stage", spec.stage))
    parts.refs.extend((file, line, "stage", s) for s in spec.when.after)
    parts.refs.extend((file, line, "topic", t) for t in spec.when.topics)


def _check_references(parts: _Parts) -> None:
    for group in (parts.stages, parts.topics, parts.prompts):
        seen: dict[str, Source] = {}
        for item in group:
            if item.id in seen:
                first = seen[item.id]
                raise PlaybookError(
                    item.source.file,
                    item.source.line,
                    f"id '{item.id}' is already used at {first.file}:{first.line}",
                )
            seen[item.id] = item.source
    known = {"stage": {s.id for s in parts.stages}, "topic": {t.id for t in parts.topics}}
    for file, line, kind, ref in parts.refs:
        if ref not in known[kind]:
            raise PlaybookError(file, line, f"unknown {kind} '{ref}'")
    for spec in parts.prompts:
        if spec.stage and not _gated(spec.when):
            raise PlaybookError(
                spec.source.file,
                spec.source.line,
                f"stage prompt '{spec.id}' must need level_at_least or peak_at_least above "
                "calm (a calm call gets no stage prompts)",
            )


def _gated(when: Conditions) -> bool:
    gates = (when.level_at_least, when.peak_at_least)
    return any(g is not None and LEVELS.index(g) > 0 for g in gates)


# --- live reload --------------------------------------------------------------------------


class PlaybookWatcher:
    """Serves the current playbook from a folder, reloading it when a file changes.

    The folder is checked at most every ``interval_s`` seconds, on access.  A bad edit
    is logged and the last good playbook keeps running; ``last_error`` says why.
    """

    def __init__(
        self,
        folder: str | Path,
        interval_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.folder = Path(folder)
        self.interval_s = interval_s
        self._clock = clock
        self._lock = threading.Lock()
        self._signature = self._scan()
        self._playbook = load_playbook(self.folder)
        self._checked_at = clock()
        self.last_error: PlaybookError | None = None

    def current(self) -> Playbook:
        """The playbook to use now (reloaded first if a file changed)."""
        now = self._clock()
        if now - self._checked_at < self.interval_s:
            return self._playbook
        with self._lock:
            self._checked_at = now
            signature = self._scan()
            if signature != self._signature:
                self._signature = signature
                self._reload()
        return self._playbook

    def _reload(self) -> None:
        try:
            self._playbook = load_playbook(self.folder)
            self.last_error = None
            log.info("playbook reloaded from %s", self.folder)
        except PlaybookError as err:
            self.last_error = err
            log.error("playbook edit rejected, keeping the last good one: %s", err)

    def _scan(self) -> tuple[tuple[str, int, int], ...]:
        out = []
        for path in sorted(self.folder.glob("*.yaml")):
            try:
                st = path.stat()
            except OSError:
                continue
            out.append((path.name, st.st_mtime_ns, st.st_size))
        return tuple(out)
