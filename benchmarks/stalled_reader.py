"""Publishing to a desk whose console has stopped reading: how long 5,000 events take.

The test (``tests/test_console.py``) proves publishing never waits for a stalled
reader; this prints how fast it goes on this machine, with one ``/events`` stream
open and unread on the in-memory bus.  Usage::

    .venv/bin/python benchmarks/stalled_reader.py [--n 5000]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=5000)
    args = parser.parse_args()

    from conftest import login, running_app

    from voice.config import Config
    from voice.services import services_of

    with running_app(Config.for_testing(database_url="sqlite://")) as app:
        svc = services_of(app)
        client = app.test_client()
        login(client, svc.store)
        response = client.get("/events", buffered=False)
        next(response.response)  # connected, then never read again
        began = time.perf_counter()
        for n in range(args.n):
            svc.bus.publish("front-desk", "transcript", {"n": n})
        took = time.perf_counter() - began
        response.close()
    print(f"{args.n} publishes with a stalled /events reader: {took * 1000:.0f} ms "
          f"({took / args.n * 1e6:.1f} µs each; the old test's bound was 2 s)")


if __name__ == "__main__":
    main()
