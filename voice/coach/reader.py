"""Reading the playbook files: ``load_playbook`` and the checks behind it.

Every error names the file, the line and what is wrong (``PlaybookError``).  Each
section of ``prompts/*.yaml`` has its own reader here; cross-file checks (unique ids,
references to stages and topics, stage prompts gated above calm) run once all files
are read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from voice.coach.playbook import (
    Conditions,
    Pacing,
    Playbook,
    PlaybookError,
    PromptSpec,
    Source,
    Stage,
    Topic,
    Urgency,
)
from voice.coach.slots import TemplateError, parse_template
from voice.coach.yamlnodes import MapNode, compose_file, node_line
from voice.events import CARD_KINDS, LEVELS, SPEAKERS, CardKind, Level

_SECTIONS = ("stages", "topics", "prompts", "pacing", "urgency", "kinds")
_STAGE_KEYS = ("id", "title", "covered_by", "covered_when_name_used", "skippable")
_TOPIC_KEYS = ("id", "label", "phrase", "keywords", "examples")
_PROMPT_KEYS = tuple("id kind stage text why when priority done_when once_per_stage paced".split())
_WHEN_KEYS = tuple(
    """level_at_least level_at_most peak_at_least rising topic topic_known name_known
    name_unused_turns speaker said after min_call_s promise_unkept""".split()
)
_PACING_KEYS = ("gap_s", "urgent_gap_s", "max_cards", "window_s")
_URGENCY_KEYS = ("level_at_least", "rising_at_least", "path", "asks_next_step", "next_step")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
_PHRASE = re.compile(r"^[a-z0-9][a-z0-9 ,'\-]*[a-z0-9]$")


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
    phrase = m.text("phrase") or ""
    if not _PHRASE.match(phrase):
        raise m.fail(
            "phrase",
            f"'phrase' is '{phrase}': it follows 'about' in a sentence (\"Call Ann back "
            "about a billing question\"), so lowercase words, no slots or full stop",
        )
    source = Source(m.file, node_line(m.node))
    return Topic(_ident(m), m.text("label") or "", phrase, keywords, examples, source)


def _level(m: MapNode, key: str) -> Level | None:
    return m.choice(key, LEVELS)


def _conditions(m: MapNode) -> Conditions:
    m.only(_WHEN_KEYS)
    return Conditions(
        level_at_least=_level(m, "level_at_least"),
        level_at_most=_level(m, "level_at_most"),
        peak_at_least=_level(m, "peak_at_least"),
        rising=m.flag("rising"),
        topics=tuple(text for text, _ in m.texts("topic")),
        topic_known=m.flag("topic_known"),
        name_known=m.flag("name_known"),
        name_unused_turns=m.integer("name_unused_turns", None, minimum=1),
        speaker=m.choice("speaker", SPEAKERS),
        said=m.patterns("said"),
        after=tuple(text for text, _ in m.texts("after")),
        min_call_s=m.number("min_call_s", None),
        promise_unkept=m.flag("promise_unkept"),
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
        kind=m.one_of("kind", CARD_KINDS),
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
    if when.promise_unkept:
        slots |= {"promise", "promised_when"}
    return frozenset(slots)


def _pacing(m: MapNode) -> Pacing:
    m.only(_PACING_KEYS)
    base = Pacing()
    return Pacing(
        gap_s=m.number("gap_s", base.gap_s) or 0.0,
        urgent_gap_s=m.number("urgent_gap_s", base.urgent_gap_s) or 0.0,
        max_cards=m.integer("max_cards", base.max_cards, minimum=1) or 1,
        window_s=m.number("window_s", base.window_s) or 0.0,
    )


def _kind_titles(m: MapNode) -> dict[CardKind, str]:
    """``kinds``: a title for every card kind (``events.CARD_KINDS``), no others."""
    m.only(CARD_KINDS)
    missing = [kind for kind in CARD_KINDS if kind not in m.items]
    if missing:
        raise m.fail(None, f"'kinds' needs a title for {', '.join(missing)}")
    return {kind: m.text(kind) or kind for kind in CARD_KINDS}


def _urgency(m: MapNode) -> Urgency:
    m.only(_URGENCY_KEYS)
    base = Urgency()
    level = _level(m, "level_at_least") or base.level_at_least
    if level == "calm":
        raise m.fail("level_at_least", "'level_at_least' must be above calm")
    rising = _level(m, "rising_at_least") if "rising_at_least" in m.items else None
    path = tuple(text for text, _ in m.texts("path")) or base.path
    return Urgency(
        level_at_least=level,
        rising_at_least=rising,
        path=path,
        asks_next_step=m.patterns("asks_next_step"),
        next_step=m.text("next_step", required=False) or base.next_step,
    )


# --- loading ------------------------------------------------------------------------------


@dataclass
class _Parts:
    stages: list[Stage] = field(default_factory=list)
    topics: list[Topic] = field(default_factory=list)
    prompts: list[PromptSpec] = field(default_factory=list)
    pacing: Pacing | None = None
    urgency: Urgency | None = None
    kind_titles: dict[CardKind, str] | None = None
    refs: list[tuple[str, int, str, str]] = field(default_factory=list)  # file, line, kind, id


def load_playbook(folder: str | Path) -> Playbook:
    """Load and validate every ``*.yaml`` in ``folder``; raise ``PlaybookError`` if broken."""
    folder = Path(folder)
    files = sorted(folder.glob("*.yaml"))
    if not files:
        raise PlaybookError(str(folder), 0, "no playbook files (*.yaml) in this folder")
    parts = _Parts()
    for path in files:
        _read_file(path, parts)
    _check_references(parts)
    if not any(p.stage for p in parts.prompts):
        raise PlaybookError(str(folder), 0, "the playbook has no stage prompts")
    return Playbook(
        stages=tuple(parts.stages),
        topics=tuple(parts.topics),
        prompts=tuple(parts.prompts),
        pacing=parts.pacing or Pacing(),
        urgency=parts.urgency or _default_urgency(parts),
        files=tuple(str(p) for p in files),
        kind_titles=parts.kind_titles or {},
    )


def _default_urgency(parts: _Parts) -> Urgency:
    """Without an ``urgency`` section: the default path, keeping only stages defined."""
    known = {s.id for s in parts.stages}
    base = Urgency()
    return Urgency(path=tuple(s for s in base.path if s in known))


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
    top.only(_SECTIONS)
    for key, node in top.items.items():
        _read_section(key, node, file, parts)


def _read_section(key: str, node: yaml.Node, file: str, parts: _Parts) -> None:
    if key == "kinds":
        if parts.kind_titles is not None:
            raise PlaybookError(file, node_line(node), "'kinds' is set in more than one file")
        parts.kind_titles = _kind_titles(_map(node, file, "kinds"))
        return
    if key in ("pacing", "urgency"):
        if getattr(parts, key) is not None:
            raise PlaybookError(file, node_line(node), f"'{key}' is set in more than one file")
        if key == "pacing":
            parts.pacing = _pacing(_map(node, file, "pacing"))
        else:
            parts.urgency = _urgency(_map(node, file, "urgency"))
            line = node_line(node)
            refs = (*parts.urgency.path, parts.urgency.next_step)
            parts.refs.extend((file, line, "stage", s) for s in refs)
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
