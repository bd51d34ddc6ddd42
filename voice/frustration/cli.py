"""The `voice score` command: score text or JSONL dialogues from the command line.

This module owns only the command-line surface; parsing and scoring live in
``voice.frustration.dialogues``.  The lead attaches ``score_command`` to the
``voice`` group.  The scorer is the one ``VOICE_SENTIMENT_MODEL`` names (default:
the offline MiniLM head).
"""

from __future__ import annotations

import json
import os
from typing import IO

import click

from voice.frustration.dialogues import (
    CachedScorer,
    DialogueFormatError,
    read_dialogues,
    score_dialogue,
    score_text,
)
from voice.frustration.model import ENV_VAR, ScorerLoadError, UtteranceScorer, load_scorer


def _scorer(model: str | None, head: str | None) -> UtteranceScorer:
    try:
        return load_scorer(model or os.environ.get(ENV_VAR) or None, head_path=head)
    except ScorerLoadError as exc:
        raise click.ClickException(str(exc)) from exc


def _score_file(source: IO[str], sink: IO[str], scorer: UtteranceScorer) -> tuple[int, int]:
    """Score every dialogue in ``source`` into ``sink``; returns (scored, skipped)."""
    cached = CachedScorer(scorer)
    scored = skipped = 0
    for item in read_dialogues(source):
        if isinstance(item, DialogueFormatError):
            click.echo(f"skipped {item}", err=True)
            skipped += 1
            continue
        sink.write(json.dumps(score_dialogue(item, cached)) + "\n")
        scored += 1
    return scored, skipped


@click.command("score")
@click.argument("texts", nargs=-1)
@click.option("--dialogues", "dialogues", type=click.File("r", encoding="utf-8"),
              help="JSONL file, one dialogue a line ('-' for stdin).")
@click.option("--out", "out", type=click.File("w", encoding="utf-8"), default="-",
              show_default=True, help="Where to write the scored JSONL.")
@click.option("--model", "model", default=None,
              help=f"Hugging Face model id or folder (default: ${ENV_VAR} or the offline head).")
@click.option("--head", "head", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Frustration head .npz to use instead of models/frustration_head.npz.")
def score_command(
    texts: tuple[str, ...], dialogues: IO[str] | None, out: IO[str],
    model: str | None, head: str | None,
) -> None:
    """Score caller frustration of TEXTS, or of the dialogues in a JSONL file."""
    if bool(texts) == bool(dialogues):
        raise click.UsageError("give either some text or --dialogues FILE, not both")
    scorer = _scorer(model, head)
    if texts:
        for text in texts:
            out.write(json.dumps(score_text(text, scorer)) + "\n")
        return
    assert dialogues is not None
    scored, skipped = _score_file(dialogues, out, scorer)
    click.echo(f"scored {scored} dialogues, skipped {skipped} malformed lines", err=True)
