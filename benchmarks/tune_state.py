"""Choose the call-level state's tuning on development dialogues; report it on held-out ones.

Development (choose): MELD dialogues of MELD's train split, Topical-Chat ``valid_*``,
``benchmarks/data/call_dialogues.jsonl`` split=dev.  Reported (never chosen on):
MELD dev+test, Topical-Chat ``test_*``, call dialogues split=eval — and, beside
them, all of MELD and all of Topical-Chat, the sets the issue's "today" figures
come from.  No model is trained on any of these.

The search: a grid over smoothing, the per-call baseline, the upset threshold
(tense and escalating 0.2 either side), the margin of the hysteresis and the
``rising`` rule.  A tuning is feasible when, on development data, at most 4 % of
calm MELD dialogues, at most 1.5 % of calm Topical-Chat ones and none of the calm
calls ever reach upset; among those it maximises the mean share caught (MELD,
calls) less a quarter of the share of calm dialogues ever marked rising.

Per-utterance model scores are cached on disk (``--cache``) by scorer and text.
``--write-card`` records the tuning chosen for the fine-tuned model in its model card,
where ``voice.frustration.tuning_for`` finds it (the defaults are the head's).

    .venv/bin/python benchmarks/tune_state.py [--scorer finetuned|head] [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from voice.frustration.dialogues import CachedScorer, DiskCachedScorer  # noqa: E402
from voice.frustration.evaluate import (  # noqa: E402
    EvalReport,
    LabelledDialogue,
    evaluate,
    read_labelled,  # noqa: E402
)
from voice.frustration.state import Tuning  # noqa: E402
from voice.frustration.training import CALL_DIALOGUES, default_data_dir  # noqa: E402

# The state as it was before issue 12 (hand-set), kept for the "today" rows.
TODAY = Tuning(alpha=0.55, prior=0.1, model_floor=0.2, enter=(0.35, 0.55, 0.75), margin=0.1,
               trend_window=4, rising_against="recent-turns", rising_slope=0.04,
               rising_climb=0.1, rising_min=0.0, baseline_weight=0.0)

# The ``rising`` rule shipped before it was measured against the caller's own baseline.
RISING_BEFORE = {"rising_against": "recent-turns", "rising_min": 0.4, "rising_slope": 0.0,
                 "rising_climb": 0.15}


def sample(items: list[LabelledDialogue], limit: int | None) -> list[LabelledDialogue]:
    """A fixed, evenly spread subset of ``items`` (all of them without a limit)."""
    if not limit or len(items) <= limit:
        return items
    step = len(items) / limit
    return [items[int(k * step)] for k in range(limit)]


def load_sets(data_dir: Path, limit: int | None = None, with_all: bool = False
              ) -> dict[str, list[LabelledDialogue]]:
    """Development and reported dialogue sets by name (Topical-Chat and MELD train sampled)."""
    meld = list(read_labelled((data_dir / "dialogues/meld/meld.jsonl").open()))
    tc = list(read_labelled((data_dir / "dialogues/topicalchat/topicalchat.jsonl").open()))
    calls = [json.loads(line) for line in CALL_DIALOGUES.open()]
    call_items = list(read_labelled(CALL_DIALOGUES.open()))
    split = {d["id"]: d["split"] for d in calls}

    def part(items: list[LabelledDialogue], keep: tuple[str, ...]) -> list[LabelledDialogue]:
        return [i for i in items if i.dialogue.id.split("/")[1].split("_")[0] in keep]

    sets = {
        "dev:meld": sample(_slim(part(meld, ("train",))), limit),
        "dev:topicalchat": sample(_slim(part(tc, ("valid",)), calm_only=True), limit),
        "dev:calls": [i for i in call_items if split[i.dialogue.id] == "dev"],
        "eval:meld": part(meld, ("dev", "test")),
        "eval:topicalchat": sample(part(tc, ("test",)), limit),
        "eval:calls": [i for i in call_items if split[i.dialogue.id] == "eval"],
    }
    if with_all:
        sets |= {"all:meld": meld, "all:topicalchat": tc}
    return sets


def _slim(items: list[LabelledDialogue], calm_only: bool = False) -> list[LabelledDialogue]:
    keep = ("calm",) if calm_only else ("calm", "turns")
    return [i for i in items if i.kind in keep]


def objective(dev: dict[str, EvalReport]) -> float | None:
    """The search's score of one tuning, or None when it breaks a false-alarm limit."""
    if (dev["dev:meld"].calm_upset_share > 0.04 or dev["dev:topicalchat"].calm_upset_share > 0.015
            or dev["dev:calls"].calm_ever_upset > 0):
        return None
    caught = (dev["dev:meld"].caught_share + dev["dev:calls"].caught_share) / 2
    rising = (dev["dev:meld"].calm_rising_share + dev["dev:topicalchat"].calm_rising_share) / 2
    return caught - 0.25 * rising


def grid(quick: bool) -> list[Tuning]:
    """The tunings tried."""
    alphas = (0.6, 0.8) if quick else (0.5, 0.65, 0.8, 0.95)
    uppers = (0.5, 0.6, 0.7) if quick else (0.45, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8)
    out = []
    for alpha, upset, base, rmin, climb, floor in itertools.product(
            alphas, uppers, (0.0, 0.5, 1.0), (0.3, 0.4, 0.5, 0.6) if not quick else (0.4, 0.5),
            (0.1, 0.2, 0.3) if not quick else (0.15,), (0.0, 0.15)):
        enter = (round(upset - 0.2, 3), upset, round(min(0.95, upset + 0.2), 3))
        out.append(Tuning(alpha=alpha, model_floor=floor, enter=enter, baseline_weight=base,
                          rising_min=rmin, rising_climb=climb, rising_slope=0.0))
    return out


def rising_objective(dev: dict[str, EvalReport]) -> float:
    """How good a ``rising`` rule is on development data: ``rising`` in time on
    conversations that turn frustrated (MELD, calls) less the share of calm dialogues
    ever marked rising (MELD, Topical-Chat, calls), each the mean of its sets."""
    in_time = (dev["dev:meld"].caught_rising_share + dev["dev:calls"].caught_rising_share) / 2
    calm = (dev["dev:meld"].calm_rising_share + dev["dev:topicalchat"].calm_rising_share
            + dev["dev:calls"].calm_rising_share) / 3
    return in_time - calm


def rising_grid(levels: Tuning) -> list[Tuning]:
    """``rising`` against the caller's own baseline; the level tuning stays ``levels``.
    Larger jumps come first, so of rules that score the same on development data the
    search keeps the one asking the largest rise over the caller's own baseline."""
    return [replace(levels, rising_against="call-baseline", rising_min=rmin, rising_jump=jump,
                    rising_after=after)
            for rmin, jump, after in itertools.product(
                (0.4, 0.5, 0.6, 0.7, 0.8), (0.5, 0.4, 0.3, 0.2, 0.1), (1, 2))]


def search_rising(sets: dict[str, list[LabelledDialogue]], scorer: CachedScorer,
                  levels: Tuning) -> tuple[Tuning, list[dict]]:
    """Every ``rising`` rule of ``rising_grid`` on the development sets; the best one."""
    dev = {name: sets[name] for name in ("dev:meld", "dev:topicalchat", "dev:calls")}
    rows, best, best_score = [], levels, -2.0
    for tuning in rising_grid(levels):
        reports = {name: evaluate(items, scorer, tuning) for name, items in dev.items()}
        score = rising_objective(reports)
        rows.append({"tuning": asdict(tuning), "score": score,
                     **{n: r.to_dict() for n, r in reports.items()}})
        if score > best_score:
            best, best_score = tuning, score
        print(f"  rising {len(rows)}: min {tuning.rising_min} jump {tuning.rising_jump} after "
              f"{tuning.rising_after}: {score:.3f} (best {best_score:.3f})", file=sys.stderr)
    return best, rows


def search(sets: dict[str, list[LabelledDialogue]], scorer: CachedScorer, quick: bool
           ) -> tuple[Tuning, list[dict]]:
    """Every tuning of the grid on the development sets; the best feasible one."""
    dev = {name: sets[name] for name in ("dev:meld", "dev:topicalchat", "dev:calls")}
    rows, best, best_score = [], TODAY, -1.0
    tunings = grid(quick)
    t0 = time.perf_counter()
    for k, tuning in enumerate(tunings):
        reports = {name: evaluate(items, scorer, tuning) for name, items in dev.items()}
        score = objective(reports)
        rows.append({"tuning": asdict(tuning), "score": score,
                     **{n: r.to_dict() for n, r in reports.items()}})
        if score is not None and score > best_score:
            best, best_score = tuning, score
        if k % 20 == 0:
            print(f"  {k + 1}/{len(tunings)} tunings, {time.perf_counter() - t0:.0f} s, "
                  f"best so far {best_score:.3f}", file=sys.stderr)
    return best, rows


def report_rows(sets: dict[str, list[LabelledDialogue]], scorer: CachedScorer,
                tuning: Tuning) -> dict[str, dict]:
    """Every reported figure of one scorer and tuning."""
    return {name: evaluate(items, scorer, tuning).to_dict() for name, items in sets.items()}


class LogitCachedScorer:
    """The fine-tuned model with its output logits cached on disk (so the card's formula and
    calibration can change without scoring again)."""

    def __init__(self, path: Path) -> None:
        from voice.frustration.model import default_finetuned_dir
        from voice.frustration.onnx_model import FineTunedScorer

        self.model = FineTunedScorer(default_finetuned_dir(), threads=2)
        self.name = self.model.name
        self.path = path
        self._logits: dict[str, np.ndarray] = {}
        if path.exists():
            with np.load(path, allow_pickle=False) as data:
                self._logits.update(zip(data["texts"].tolist(), data["logits"], strict=True))

    def prefetch(self, texts: list[str]) -> None:
        """Run the model on texts not seen yet."""
        todo = list(dict.fromkeys(t for t in texts if t not in self._logits))
        for k in range(0, len(todo), 1024):
            chunk = todo[k : k + 1024]
            self._logits.update(zip(chunk, self.model.logits(chunk), strict=True))
            self.save()

    def score(self, texts: list[str]) -> list[float]:
        """Calibrated scores from the cached logits and the card."""
        from voice.frustration.onnx_model import combine

        if not texts:
            return []
        self.prefetch(texts)
        logits = np.array([self._logits[t] for t in texts]).reshape(len(texts), -1)
        raw = combine(logits, self.model.outputs, self.model.formula)
        return [float(p) for p in self.model.calibration.apply(raw)]

    def save(self) -> None:
        """Write the logits cache."""
        texts = list(self._logits)
        np.savez(self.path, texts=np.array(texts),
                 logits=np.array([self._logits[t] for t in texts], dtype=np.float32))


def make_scorer(kind: str, cache: Path) -> CachedScorer:
    """The fine-tuned model or the frozen-head baseline, with a disk cache."""
    from voice.frustration.model import HEAD_SCORER_NAME

    cache.mkdir(parents=True, exist_ok=True)
    stamp = _model_stamp(kind)
    if kind == "finetuned":
        inner = LogitCachedScorer(cache / f"logits-finetuned-{stamp}.npz")
        return CachedScorer(inner)  # type: ignore[arg-type]
    from voice.frustration.model import load_scorer

    return DiskCachedScorer(load_scorer(HEAD_SCORER_NAME),
                            cache / f"scores-{kind}-{stamp}.npz")


def _model_stamp(kind: str) -> str:
    models = REPO / "models"
    path = (models / "frustration_minilm" / "model.int8.onnx" if kind == "finetuned"
            else models / "frustration_head.npz")
    stamp = hashlib.sha1(path.read_bytes()).hexdigest()[:10]
    if kind == "head":  # the shared encoder's back end and max length change the scores
        from voice.embedding import load_encoder

        stamp += f"-{load_encoder().tag}"
    return stamp


def write_state_tuning(card_path: Path, chosen: Tuning, how: str) -> dict:
    """Record ``chosen`` in a fine-tuned model's card as its ``state_tuning`` (the fields
    that differ from ``Tuning()``'s defaults), which ``voice.frustration.tuning_for`` reads."""
    defaults = asdict(Tuning())
    fields = {k: v for k, v in asdict(chosen).items() if v != defaults[k]}
    card = json.loads(card_path.read_text())
    card["state_tuning"] = {k: list(v) if isinstance(v, tuple) else v for k, v in fields.items()}
    card["state_tuning_source"] = how
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    return card["state_tuning"]


def main(argv: list[str] | None = None) -> None:
    """Search, report, and print the chosen tuning."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scorer", choices=("finetuned", "head"), default="finetuned")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/voice_frust_cache"))
    parser.add_argument("--quick", action="store_true", help="A small grid (smoke runs).")
    parser.add_argument("--limit", type=int, default=None,
                        help="Sample MELD train, Topical-Chat valid and test to this many "
                             "dialogues each (the 2-core machine's time).")
    parser.add_argument("--prefetch-only", action="store_true",
                        help="Only run the model over the texts (fills the logits cache).")
    parser.add_argument("--all", action="store_true", help="Also report all MELD, all TC.")
    parser.add_argument("--baseline", action="store_true",
                        help="Also report the frozen-head baseline with today's tuning.")
    parser.add_argument("--rising", action="store_true",
                        help="Search only the rising rule (the levels as shipped); "
                             "'today' is then the shipped levels with the rule before.")
    parser.add_argument("--out", type=Path, default=None, help="Write everything as JSON here.")
    parser.add_argument("--write-card", action="store_true",
                        help="With --scorer finetuned: record the chosen tuning in the model's "
                             "card (models/frustration_minilm/card.json), which calls then use.")
    args = parser.parse_args(argv)
    sets = load_sets(default_data_dir(), args.limit, args.all)
    scorer = make_scorer(args.scorer, args.cache)
    t0 = time.perf_counter()
    texts = [t.text for items in sets.values() for i in items for t in i.dialogue.turns
             if t.speaker == "caller" and t.text.strip()]
    if isinstance(scorer.inner, LogitCachedScorer):
        scorer.inner.prefetch(texts)
        if args.prefetch_only:
            return
    scorer.prefetch(texts)
    if isinstance(scorer, DiskCachedScorer):
        scorer.save()
    print(f"scored caller turns in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    if args.rising:  # levels as shipped; only the ``rising`` rule is searched
        before = replace(Tuning(), **RISING_BEFORE)
        best, rows = search_rising(sets, scorer, before)
        result = {"scorer": args.scorer, "chosen": asdict(best),
                  "today_tuning": report_rows(sets, scorer, before),
                  "chosen_tuning": report_rows(sets, scorer, best)}
    else:
        best, rows = search(sets, scorer, args.quick)
        result = {"scorer": args.scorer, "chosen": asdict(best),
                  "today_tuning": report_rows(sets, scorer, TODAY),
                  "chosen_tuning": report_rows(sets, scorer, best)}
    labels = ["today_tuning", "chosen_tuning"]
    if args.baseline:
        head = make_scorer("head", args.cache)
        result["baseline_head_today_tuning"] = report_rows(
            {k: v for k, v in sets.items() if k.startswith(("eval", "all"))}, head, TODAY)
        head.save()
        labels.insert(0, "baseline_head_today_tuning")
    for label in labels:
        print(f"\n{args.scorer if label != labels[0] or not args.baseline else 'head'} "
              f"+ {label}")
        for name, figs in result[label].items():
            print(f"  {name:18s} AUC {figs['turn_auc']:.3f}  caught {figs['caught']}/"
                  f"{figs['turned']} ({figs['caught_share']:.1%})  calm upset "
                  f"{figs['calm_ever_upset']}/{figs['calm']} ({figs['calm_upset_share']:.1%})"
                  f"  rising in time {figs['caught_rising_share']:.1%}"
                  f"  calm rising {figs['calm_rising_share']:.1%}")
    print("\nchosen:", json.dumps(asdict(best)))
    if args.out:
        args.out.write_text(json.dumps({**result, "grid": rows}, indent=1))
    if args.write_card and args.scorer == "finetuned":
        how = (f"benchmarks/tune_state.py --scorer finetuned --limit {args.limit} "
               f"{'--rising ' if args.rising else ''}on the development dialogues, "
               f"{time.strftime('%Y-%m-%d')}")
        card = REPO / "models" / "frustration_minilm" / "card.json"
        print("written to the card:", json.dumps(write_state_tuning(card, best, how)))


if __name__ == "__main__":
    main()
