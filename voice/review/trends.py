"""Week-to-week topic counts shaped for the review page's table of bars."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class TopicRow:
    """One topic's calls per week (oldest week first) and its latest change."""

    topic: str
    calls: list[int] = field(default_factory=list)
    flagged: list[int] = field(default_factory=list)

    @property
    def change(self) -> int:
        """Calls in the latest week minus the week before."""
        if len(self.calls) < 2:
            return 0
        return self.calls[-1] - self.calls[-2]


@dataclass
class TrendTable:
    """Topics × weeks, with the largest count for scaling the bars."""

    weeks: list[str]
    rows: list[TopicRow]
    peak: int


def trend_table(buckets: list[dict[str, Any]]) -> TrendTable:
    """Turn ``store.topic_trends()`` buckets into rows; rising topics first."""
    weeks = sorted({b["week"] for b in buckets})
    index = {week: i for i, week in enumerate(weeks)}
    rows: dict[str, TopicRow] = {}
    for bucket in buckets:
        row = rows.setdefault(
            bucket["topic"], TopicRow(bucket["topic"], [0] * len(weeks), [0] * len(weeks))
        )
        row.calls[index[bucket["week"]]] = bucket["calls"]
        row.flagged[index[bucket["week"]]] = bucket["flagged"]
    ordered = sorted(rows.values(), key=lambda r: (-r.change, -sum(r.calls), r.topic))
    peak = max((c for r in ordered for c in r.calls), default=0)
    return TrendTable(weeks, ordered, peak)
