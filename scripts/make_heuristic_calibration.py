"""Recompute the offline judge's figures on the shipped ratings files.

Writes evaluator/calibration_sets/heuristic-calibration.json, which the About page shows
(read once, so the page starts cheaply); tests/evaluator/calibration/test_heuristic_calibration.py
checks it equals a fresh computation, so a rule change without a rerun fails the tests.

    python -m scripts.make_heuristic_calibration
"""

from __future__ import annotations

from evaluator.calibration import write_heuristic_calibration


def main() -> None:
    print(f"wrote {write_heuristic_calibration()}")


if __name__ == "__main__":
    main()
