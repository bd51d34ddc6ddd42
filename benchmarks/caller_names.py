"""Precision and recall of caller-name detection on the written set of call openings.

    python benchmarks/caller_names.py [--verbose]

Reads ``tests/data/caller_openings.yaml`` (66 openings the rules were tuned on)
and ``caller_openings_heldout.yaml`` (20 written afterwards, never tuned on): Vosk-style
text and the expected name.  Prints for each precision (names found that are
right) and recall (names given that were found right).  A wrong name counts against both.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from voice.names import extract_caller_name

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"
SETS = {"written": DATA / "caller_openings.yaml", "held-out": DATA / "caller_openings_heldout.yaml"}


def evaluate(path: Path, verbose: bool = False) -> dict[str, float]:
    """``{"openings", "with_name", "precision", "recall"}`` over one set."""
    cases = yaml.safe_load(path.read_text())
    found = right = expected = 0
    for case in cases:
        got, want = extract_caller_name(case["text"]), case["name"]
        expected += want is not None
        found += got is not None
        right += got is not None and got == want
        if verbose and got != want:
            print(f"  miss: {case['text']!r}: got {got!r}, want {want!r}")
    return {
        "openings": len(cases),
        "with_name": expected,
        "precision": right / found if found else 1.0,
        "recall": right / expected if expected else 1.0,
    }


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--verbose", action="store_true", help="list every miss")
    verbose = parser.parse_args().verbose
    for name, path in SETS.items():
        result = evaluate(path, verbose)
        print(f"{name}: {result['openings']} openings, {result['with_name']} with a name: "
              f"precision {result['precision']:.3f}, recall {result['recall']:.3f}")


if __name__ == "__main__":
    main()
