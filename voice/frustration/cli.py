"""The `voice score` command: score text or JSONL dialogues from the command line.

This module owns only the command-line surface; parsing and scoring live in
``voice.frustration.dialogues``.  The lead attaches ``score_command`` to the
``voice`` group.  The scorer is the one ``VOICE_SENTIMENT_MODEL`` names (default:
the offline MiniLM head).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import IO, Any

import click

from voice.config import sentiment_model_from_env
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
        return load_scorer(model or sentiment_model_from_env(), head_path=head)
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
@click.option("--eval", "eval_file", type=click.File("r", encoding="utf-8"), default=None,
              help="Labelled JSONL dialogues (shared/data/dialogues format): print per-turn "
                   "AUC, share of frustrated conversations caught, calm ones called upset.")
@click.option("--json", "as_json", is_flag=True, help="With --eval: print the figures as JSON.")
@click.option("--out", "out", type=click.File("w", encoding="utf-8"), default="-",
              show_default=True, help="Where to write the scored JSONL.")
@click.option("--model", "model", default=None,
              help=f"Hugging Face model id or folder (default: ${ENV_VAR} or the offline head).")
@click.option("--head", "head", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Frustration head .npz to use instead of models/frustration_head.npz.")
def score_command(
    texts: tuple[str, ...], dialogues: IO[str] | None, eval_file: IO[str] | None,
    as_json: bool, out: IO[str], model: str | None, head: str | None,
) -> None:
    """Score caller frustration of TEXTS, of the dialogues in a JSONL file, or evaluate."""
    if sum((bool(texts), dialogues is not None, eval_file is not None)) != 1:
        raise click.UsageError("give exactly one of: some text, --dialogues FILE, --eval FILE")
    if eval_file is not None:
        _evaluate(eval_file, out, _scorer(model, head), as_json)
        return
    scorer = _scorer(model, head)
    if texts:
        for text in texts:
            out.write(json.dumps(score_text(text, scorer)) + "\n")
        return
    assert dialogues is not None
    scored, skipped = _score_file(dialogues, out, scorer)
    click.echo(f"scored {scored} dialogues, skipped {skipped} malformed lines", err=True)


def _evaluate(source: IO[str], sink: IO[str], scorer: UtteranceScorer, as_json: bool) -> None:
    from voice.frustration.evaluate import evaluate, read_labelled

    try:
        items = list(read_labelled(source))
    except ValueError as exc:
        raise click.ClickException(f"{source.name}: {exc}") from None
    if not items:
        raise click.ClickException(f"{source.name}: no dialogues")
    report = evaluate(items, scorer)
    if as_json:
        sink.write(json.dumps({"file": source.name, "scorer": scorer.name,
                               **report.to_dict()}) + "\n")
        return
    sink.write("\n".join(report.lines(f"{source.name} ({scorer.name})")) + "\n")


@click.command("train-frustration")
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder with goemotions/ and dialogues/ (default: the shared data).")
@click.option("--cache", type=click.Path(file_okay=False, path_type=Path),
              default=Path("/tmp/voice_frust_cache"), show_default=True,
              help="Token, embedding and checkpoint cache (a rerun resumes from it).")
@click.option("--models-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where the model files go (default: the repository's models/).")
@click.option("--max-minutes", type=float, default=28.0, show_default=True,
              help="Stop fine-tuning after this much training time (resumable).")
@click.option("--epochs", type=float, default=2.0, show_default=True)
@click.option("--threads", type=int, default=2, show_default=True)
@click.option("--freeze-layers", type=int, default=None,
              help="Keep the embeddings and this many lower encoder layers frozen "
                   "(default: the config's).")
@click.option("--with-baseline", is_flag=True,
              help="Also refit the frozen-encoder baseline head (models/frustration_head.npz).")
@click.option("--head-only", is_flag=True,
              help="Only refit the frozen-encoder head (the default scorer); no fine-tuning.")
def train_command(data_dir: Path | None, cache: Path, models_dir: Path | None,
                  max_minutes: float, epochs: float, threads: int, freeze_layers: int | None,
                  with_baseline: bool, head_only: bool) -> None:
    """Fine-tune MiniLM on frustration; write models/frustration_minilm/ and its card."""
    from tqdm import tqdm

    from voice.frustration.finetune import FineTuneConfig
    from voice.frustration.model import HEAD_FILENAME, repo_models_dir, save_head
    from voice.frustration.train_run import run_training
    from voice.frustration.training import default_data_dir, train_baseline_head

    data = data_dir or default_data_dir()
    if not (data / "goemotions" / "goemotions_train.jsonl").exists():
        raise click.ClickException(f"no GoEmotions data under {data} (give --data-dir)")
    if head_only:
        head, metrics = train_baseline_head(data, cache,
                                            progress=lambda msg: click.echo(msg, err=True))
        save_head((models_dir or repo_models_dir()) / HEAD_FILENAME, head)
        click.echo(json.dumps({"head": metrics}, indent=2))
        return
    cfg = FineTuneConfig(max_minutes=max_minutes, epochs=epochs, threads=threads)
    if freeze_layers is not None:
        cfg = replace(cfg, freeze_layers=freeze_layers)

    def bar(total: int, done: int) -> tqdm[Any]:
        return tqdm(total=total, initial=done, desc="fine-tune", unit="batch")

    card = run_training(data, cache, models_dir or repo_models_dir(), cfg, bar,
                        progress=lambda msg: click.echo(msg, err=True),
                        skip_baseline=not with_baseline)
    click.echo(json.dumps({"metrics": card["metrics"], "training": card["training"],
                           "score": card["score"]["chosen"]}, indent=2))
