"""Coach evaluation: do the right cards come up in time on scripted calls?

Plays the scripted calls of ``benchmarks/data/coach_calls.yaml`` (passive
receptionists, receptionists who already do the right thing, curt-but-calm callers,
callers who calm down, callers who escalate fast; every playbook topic) through the
real ``PromptEngine`` and the shipped playbook, in call time, and prints:

* delay from the caller first reaching upset to the first fitting card (a card on
  the playbook's urgency path), in caller turns and call seconds, p50/p95;
* the share of upset calls in which empathize, confirm the details and a next step
  were each shown or covered by the receptionist;
* the share of calls with the topic's own next step when the topic was known;
* de-escalation cards on calm calls; new top cards per minute;
* how many of the cards each call expects were up by their caller turn.

The caller's level per turn comes from the script (``--levels script``, what a
listener would judge; this measures the coach alone) or from the shipped frustration
model and cues (``--levels model``; the whole chain from words to cards).  Topics
are matched by keywords, or with the MiniLM encoder too (``--encoder``).

    .venv/bin/python benchmarks/coach_eval.py [--levels script|model] [--encoder] [--calls]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from voice.coach import Playbook, PromptEngine, TopicMatcher, load_playbook  # noqa: E402
from voice.events import LEVELS, FrustrationState, Level, Speaker, Utterance  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CALLS = ROOT / "benchmarks" / "data" / "coach_calls.yaml"
GROUPS = ("passive", "right", "curt", "calms", "fast")
ESSENTIAL = {"empathize": "empathize", "confirm": "confirm_details", "next_step": "next_step"}
SECONDS_PER_WORD = 0.35
GOALS = {
    "in_turn": 0.90,
    "essentials": 0.90,
    "topic_step": 0.80,
    "calm_cards": 0,
    "per_minute": 4,
}


@dataclass(frozen=True)
class Turn:
    """One scripted line; ``level``/``rising`` only on caller lines."""

    speaker: Speaker
    at: float
    text: str
    level: Level | None = None
    rising: bool = False

    @property
    def end(self) -> float:
        """When the line ends (about 0.35 s a word)."""
        return round(self.at + SECONDS_PER_WORD * max(1, len(self.text.split())), 2)


@dataclass(frozen=True)
class EvalCall:
    """A scripted call and the cards it expects (kind, caller turn by which it is up)."""

    id: str
    group: str
    topic: str | None
    turns: tuple[Turn, ...]
    expect: tuple[tuple[str, int], ...]

    @property
    def calm(self) -> bool:
        """Whether the caller stays calm throughout (by the script)."""
        return all(t.level in (None, "calm") and not t.rising for t in self.turns)


@dataclass
class Result:
    """What the coach did on one call."""

    call: EvalCall
    cards: list[tuple[float, int, str, str | None, bool]] = field(default_factory=list)
    # (t, caller turn, prompt id, stage, reacts to the receptionist's words)
    up_by_turn: dict[int, set[str]] = field(default_factory=dict)  # essentials up by turn
    first_upset: tuple[int, float] | None = None  # caller turn, t_end
    needed_at_upset: bool = True
    topic: str | None = None
    topic_step: bool = False
    duration: float = 0.0


def load_calls(path: Path = CALLS) -> list[EvalCall]:
    """Read the scripted calls; a malformed one raises ``ValueError`` naming it."""
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    calls = []
    for entry in raw["calls"]:
        name = entry.get("id", "?")
        try:
            calls.append(_call(entry))
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise ValueError(f"{path}: call {name}: {err}") from None
    return calls


def _call(entry: dict[str, Any]) -> EvalCall:
    if entry["group"] not in GROUPS:
        raise ValueError(f"group {entry['group']!r} is not one of {GROUPS}")
    turns = []
    for row in entry["turns"]:
        if row[0] == "r":
            turns.append(Turn("receptionist", float(row[1]), str(row[2])))
            continue
        level, rising = str(row[2]).rstrip("^"), str(row[2]).endswith("^")
        if level not in LEVELS:
            raise ValueError(f"level {row[2]!r} at {row[1]} s")
        turns.append(Turn("caller", float(row[1]), str(row[3]), level, rising))
    expect = tuple((str(k), int(n)) for k, n in entry.get("expect") or ())
    for kind, _ in expect:
        if kind not in ESSENTIAL:
            raise ValueError(f"expected kind {kind!r} is not one of {tuple(ESSENTIAL)}")
    return EvalCall(entry["id"], entry["group"], entry.get("topic"), tuple(turns), expect)


LevelSource = Callable[[str, Utterance, Turn], FrustrationState | None]


def scripted_levels(sid: str, u: Utterance, turn: Turn) -> FrustrationState | None:
    """The caller's state as the script judges it."""
    level = turn.level or "calm"
    score = (0.1, 0.45, 0.65, 0.85)[LEVELS.index(level)]
    return FrustrationState(sid, score, level, 0.0, turn.rising, (), u.t_end)


def model_levels() -> Callable[[], LevelSource]:
    """A factory of per-call level sources backed by the shipped frustration model."""
    from voice.frustration import CallFrustration
    from voice.frustration.model import load_scorer

    scorer = load_scorer()

    def per_call() -> LevelSource:
        state: dict[str, CallFrustration] = {}

        def observe(sid: str, u: Utterance, turn: Turn) -> FrustrationState | None:
            frustration = state.setdefault(sid, CallFrustration(sid, scorer))
            return frustration.observe(u)

        return observe

    return per_call


def run_call(call: EvalCall, playbook: Playbook, matcher: TopicMatcher,
             levels: LevelSource) -> Result:
    """Play one call through the engine, in call time."""
    sid = f"CAeval-{call.id}"
    engine = PromptEngine(sid, playbook, topic_matcher=matcher)
    result = Result(call)
    caller_turn = 0
    path = set(playbook.urgency.path)
    for turn in call.turns:
        u = Utterance(sid, turn.speaker, turn.text, turn.at, turn.end, True)
        new = engine.on_utterance(u)
        state = levels(sid, u, turn) if turn.speaker == "caller" else None
        if turn.speaker == "caller":
            caller_turn += 1
        if state is not None:
            upset = LEVELS.index(state.level) >= LEVELS.index(playbook.urgency.level_at_least)
            if upset and result.first_upset is None:
                result.first_upset = (caller_turn, u.t_end)
                result.needed_at_upset = any(s not in engine.covered_stages for s in path)
            new += engine.on_frustration(state)
        for prompt in new:
            spec = playbook.prompt(prompt.id)
            reacts = bool(spec and spec.when.speaker)
            result.cards.append((prompt.t, caller_turn, prompt.id, spec.stage if spec else None,
                                 reacts))
        if turn.speaker == "caller":
            result.up_by_turn[caller_turn] = _essentials_up(engine, result)
    result.topic = engine.topic
    result.topic_step = _topic_step(engine, playbook, result)
    result.duration = call.turns[-1].end
    return result


def _essentials_up(engine: PromptEngine, result: Result) -> set[str]:
    shown = {stage for _, _, _, stage, _ in result.cards}
    covered = set(engine.covered_stages)
    return {kind for kind, stage in ESSENTIAL.items() if stage in shown | covered}


def _topic_step(engine: PromptEngine, playbook: Playbook, result: Result) -> bool:
    """The topic's own next-step card was shown, or the receptionist already did it."""
    topic_cards = {p.id for p in playbook.prompts if engine.topic in p.when.topics}
    shown = {pid for _, _, pid, _, _ in result.cards}
    return bool(topic_cards & (shown | engine.notes.done))


def max_in_window(times: Sequence[float], window: float = 60.0) -> int:
    """The most cards that went up within any ``window`` seconds."""
    return max((sum(1 for x in times if t <= x < t + window) for t in times), default=0)


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def fitting_delay(result: Result, playbook: Playbook) -> tuple[int, float] | None:
    """Caller turns and seconds from first upset to the first urgency-path card."""
    if result.first_upset is None or not result.needed_at_upset:
        return None
    turn, t = result.first_upset
    for card_t, card_turn, _, stage, _ in result.cards:
        if card_t >= t and stage in playbook.urgency.path:
            return card_turn - turn, round(card_t - t, 2)
    return 99, float("inf")


def summarize(results: list[Result], playbook: Playbook) -> dict[str, float]:
    """The figures the issue asks for."""
    upset = [r for r in results if r.first_upset is not None]
    delays = [d for r in upset if (d := fitting_delay(r, playbook)) is not None]
    in_turn = [d for d in delays if d[0] == 0 and d[1] <= 2.0]
    satisfied = len(in_turn) + sum(1 for r in upset if not r.needed_at_upset)
    final = {r.call.id: r.up_by_turn[max(r.up_by_turn)] for r in upset}
    known = [r for r in results if r.topic is not None and not r.call.calm]
    calm = [r for r in results if r.call.calm]
    calm_cards = sum(1 for r in calm for c in r.cards if not c[4])
    minutes = sum(r.duration for r in results) / 60.0
    cards = sum(len(r.cards) for r in results)
    expected = [(r, k, n) for r in results for k, n in r.call.expect]
    met = sum(1 for r, k, n in expected if k in r.up_by_turn.get(n, set()))
    turn_delays = [d[0] for d in delays]
    sec_delays = [d[1] for d in delays]
    return {
        "calls": len(results),
        "upset_calls": len(upset),
        "needing_a_card": len(delays),
        "delay_turns_p50": pct(turn_delays, 50) if delays else 0,
        "delay_turns_p95": pct(turn_delays, 95) if delays else 0,
        "delay_s_p50": pct(sec_delays, 50) if delays else 0.0,
        "delay_s_p95": pct(sec_delays, 95) if delays else 0.0,
        "in_turn": satisfied / len(upset) if upset else 1.0,
        "empathize": _share(final, "empathize"),
        "confirm": _share(final, "confirm"),
        "next_step": _share(final, "next_step"),
        "essentials": sum(1 for up in final.values() if set(ESSENTIAL) <= up) / max(1, len(final)),
        "topic_known": len(known),
        "topic_right": sum(1 for r in known if r.topic == r.call.topic),
        "topic_step": sum(1 for r in known if r.topic_step) / max(1, len(known)),
        "calm_calls": len(calm),
        "calm_cards": calm_cards,
        "cards": cards,
        "cards_per_minute": cards / minutes if minutes else 0.0,
        "max_per_minute": max(max_in_window([c[0] for c in r.cards]) for r in results),
        "expected": len(expected),
        "expected_met": met,
    }


def _share(final: dict[str, set[str]], kind: str) -> float:
    return sum(1 for up in final.values() if kind in up) / max(1, len(final))


def report(figures: dict[str, float], results: list[Result], show_calls: bool) -> None:
    """Print the figures, the goals and (optionally) every call's cards."""
    f = figures
    print(f"{f['calls']} scripted calls, {f['upset_calls']} reach upset "
          f"({f['needing_a_card']} still needing a card then), {f['calm_calls']} calm")
    print(f"first fitting card after first upset: caller turns p50 {f['delay_turns_p50']} / "
          f"p95 {f['delay_turns_p95']}; call seconds p50 {f['delay_s_p50']:.2f} / "
          f"p95 {f['delay_s_p95']:.2f}")
    rows = [
        ("first fitting card in the caller's same turn, <= 2 s", f["in_turn"], GOALS["in_turn"]),
        ("upset calls: empathize shown or covered", f["empathize"], None),
        ("upset calls: confirm the details shown or covered", f["confirm"], None),
        ("upset calls: a next step shown or covered", f["next_step"], None),
        ("upset calls: all three", f["essentials"], GOALS["essentials"]),
        (f"topic's own next step, topic known ({f['topic_known']} calls, "
         f"{f['topic_right']} topics right)", f["topic_step"], GOALS["topic_step"]),
    ]
    for name, value, goal in rows:
        verdict = "" if goal is None else ("  ok" if value >= goal else "  MISSED")
        goal_s = "" if goal is None else f" (goal >= {goal:.0%})"
        print(f"  {name}: {value:.0%}{goal_s}{verdict}")
    calm_ok = "ok" if f["calm_cards"] <= GOALS["calm_cards"] else "MISSED"
    print(f"  de-escalation cards on calm calls: {f['calm_cards']} (goal 0)  {calm_ok}")
    rate_ok = "ok" if f["max_per_minute"] <= GOALS["per_minute"] else "MISSED"
    print(f"  new top cards: {f['cards']} in all, {f['cards_per_minute']:.1f} per call-minute; "
          f"most in any 60 s of one call: {f['max_per_minute']} (goal <= 4)  {rate_ok}")
    print(f"  expected cards up by their caller turn: {f['expected_met']}/{f['expected']}")
    if show_calls:
        for r in results:
            cards = ", ".join(f"{t:g}s:{pid}" for t, _, pid, _, _ in r.cards) or "-"
            late = [f"{k} by turn {n}" for k, n in r.call.expect
                    if k not in r.up_by_turn.get(n, set())]
            missed = f"  (late: {', '.join(late)})" if late else ""
            print(f"    {r.call.id:32} topic={r.topic or '-':17} {cards}{missed}")


def main(argv: list[str] | None = None) -> int:
    """Run the evaluation; exit 1 when a goal is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", choices=("script", "model"), default="script")
    parser.add_argument("--encoder", action="store_true", help="match topics with MiniLM too")
    parser.add_argument("--calls", action="store_true", help="print every call's cards")
    parser.add_argument("--file", type=Path, default=CALLS)
    args = parser.parse_args(argv)
    playbook = load_playbook(ROOT / "prompts")
    if args.encoder:
        from voice.embedding import load_encoder

        matcher = TopicMatcher(encoder=load_encoder)
    else:
        matcher = TopicMatcher(encoder=None)
    per_call = model_levels() if args.levels == "model" else (lambda: scripted_levels)
    results = [run_call(c, playbook, matcher, per_call()) for c in load_calls(args.file)]
    figures = summarize(results, playbook)
    print(f"coach eval: levels from the {args.levels}, topics by "
          f"{'keywords + MiniLM' if args.encoder else 'keywords'}")
    report(figures, results, args.calls)
    missed = (
        figures["in_turn"] < GOALS["in_turn"]
        or figures["essentials"] < GOALS["essentials"]
        or figures["topic_step"] < GOALS["topic_step"]
        or figures["calm_cards"] > GOALS["calm_cards"]
        or figures["max_per_minute"] > GOALS["per_minute"]
    )
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
