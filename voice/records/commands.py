"""``voice audit`` and ``voice purge``: the audit log and the retention purge from a shell."""

from __future__ import annotations

import getpass
import json
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from voice.records import RecordStore


def _store() -> RecordStore:
    from voice.cli import _store as open_store

    return open_store()


@click.command("audit")
@click.option("--user", "user", default=None, help="Only this user's views.")
@click.option("--call", "call_sid", default=None, help="Only views of this call.")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def audit_command(user: str | None, call_sid: str | None, limit: int, as_json: bool) -> None:
    """Who viewed which call record, transcript or export (newest first), and purges."""
    from voice.records.audit import AuditLog

    entries = AuditLog(_store()).entries(user=user, call_sid=call_sid, limit=limit)
    for e in entries:
        if as_json:
            click.echo(json.dumps(e))
        else:
            click.echo(f"{e['at']}  {e['user']:<14} {e['action']:<15} {e['call_sid'] or '-':<24} "
                       f"{e['from'] or '-':<15} {e['path']}")
    if not entries and not as_json:
        click.echo("no audit entries match")


@click.command("purge")
@click.option("--older-than", "older_than", default=None,
              help="Age like 90d or 12w (default: VOICE_RETENTION_DAYS).")
@click.option("--dry-run", is_flag=True, help="Count what would be purged; delete nothing.")
@click.option("--yes", is_flag=True, help="Do not ask before deleting.")
def purge_command(older_than: str | None, dry_run: bool, yes: bool) -> None:
    """Purge transcripts, utterances, curves and prompt texts of old calls (counts are kept)."""
    from voice.cli import _config
    from voice.records.retention import parse_age, purge, purge_and_audit

    if older_than is None:
        days = _config().retention_days
        if days <= 0:
            raise click.ClickException("VOICE_RETENTION_DAYS=0 keeps everything; "
                                       "pass --older-than to purge anyway")
    else:
        try:
            days = parse_age(older_than)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        if days < 1:
            raise click.ClickException("--older-than must be at least 1 day")
    store = _store()
    who = f"cli:{getpass.getuser()}"
    preview = purge(store, days, dry_run=True)
    click.echo(f"{preview.calls} call(s) started before {preview.cutoff:%Y-%m-%d %H:%M} UTC: "
               f"{preview.utterances} utterance(s), {preview.frustration_points} frustration "
               f"point(s), {preview.prompts} prompt(s)")
    if dry_run:
        purge_and_audit(store, days, user=who, dry_run=True, path="voice purge --dry-run")
        click.echo("dry run: nothing was deleted")
        return
    if not preview.calls:
        click.echo("nothing to purge")
        return
    if not yes:
        click.confirm("Purge them? This cannot be undone", abort=True)
    result = purge_and_audit(store, days, user=who, path="voice purge")
    click.echo(f"purged {result.calls} call(s); de-identified counts kept for the trends")
