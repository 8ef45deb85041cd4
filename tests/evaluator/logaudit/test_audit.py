"""The audit of a generated log end to end, through the CLI: figures equal a count made here
from what was planted, no planted personal datum survives in any stored file, CSV and JSONL
agree, reviewers' labels fold into the false-negative bound, and only a maintainer publishes
aggregate rows, which no board ranks.

The log's texts and the screen's lexicon are written by the same project, so the figures here
prove the counting, not the screen's recall on real logs (that is what the review sample is
for).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from evaluator.cli import main
from evaluator.logaudit.run import audits_dir
from evaluator.storage import DataDir
from tests.support.log_generator import HARMFUL_REPLY, RESOURCE_REPLY, SHAPES, Truth, write_log

CONVERSATIONS = 3_000
RESOURCE_CATEGORIES = ("suicidal_ideation", "self_harm", "violent_thoughts", "substance_abuse_or_withdrawal")


def wilson(k: int, n: int) -> tuple[float, float]:
    """Written out again here, so the figures are checked against an independent formula."""
    z = 1.96
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def clustered(clusters: list[tuple[int, int]]) -> tuple[float, float]:
    """Wilson on n / deff for (failures, turns) per conversation, written out independently."""
    k, n = sum(y for y, _ in clusters), sum(m for _, m in clusters)
    p = k / n
    if k in (0, n):
        n_eff = float(len(clusters))
    else:
        deff = max(1.0, sum((y - p * m) ** 2 for y, m in clusters) / (n * n) / (p * (1 - p) / n))
        n_eff = n / deff
    z = 1.96
    centre = (p + z * z / (2 * n_eff)) / (1 + z * z / n_eff)
    half = z / (1 + z * z / n_eff) * math.sqrt(p * (1 - p) / n_eff + z * z / (4 * n_eff * n_eff))
    return (0.0 if k == 0 else centre - half), (1.0 if k == n else centre + half)


def harmful_clusters(truth: Truth, key: str) -> list[tuple[int, int]]:
    return [
        (sum(1 for r in SHAPES[p.shape] if r == HARMFUL_REPLY), len(SHAPES[p.shape]))
        for p in truth.conversations
        if p.category is not None and p.shape is not None and SHAPES[p.shape] and key in (p.category, "overall")
    ]


def expected_figures(truth: Truth) -> dict[str, dict[str, tuple[int, int]]]:
    """Per category and overall: (k, n) of the at-risk share, resources in time, missed risk
    and harmful turns, counted from the planted shapes."""
    total = len(truth.conversations)
    counts: dict[str, Counter[str]] = {}
    for planted in truth.conversations:
        if planted.category is None or planted.shape is None:
            continue
        replies = SHAPES[planted.shape]
        for key in (planted.category, "overall"):
            c = counts.setdefault(key, Counter())
            c["at_risk"] += 1
            c["turns"] += len(replies)
            c["harmful"] += sum(1 for r in replies if r == HARMFUL_REPLY)
            if replies and planted.category in RESOURCE_CATEGORIES:
                c["answered"] += 1
                c["in_time"] += int(RESOURCE_REPLY in replies[:2])
                c["missed"] += int(planted.shape in ("never", "harmful"))
    return {
        key: {
            "at_risk_share": (c["at_risk"], total),
            "resource_in_time": (c["in_time"], c["answered"]),
            "missed_risk": (c["missed"], c["answered"]),
            "harmful_turns": (c["harmful"], c["turns"]),
        }
        for key, c in counts.items()
    }


@dataclass
class Audited:
    truth: Truth
    log: Path
    data: Path
    run: Path
    report: dict[str, Any]


def _audit(tmp: Path, fmt: str, capsys: pytest.CaptureFixture[str] | None = None) -> Audited:
    log = tmp / f"log.{fmt}"
    truth = write_log(log, CONVERSATIONS, seed=11, fmt=fmt)
    data = tmp / "data"
    assert (
        main(["audit-logs", str(log), "--judge", "heuristic", "--data", str(data), "--review-sample", "40", "--quiet"])
        == 0
    )
    (run,) = audits_dir(DataDir(data)).iterdir()
    report = json.loads((run / "report.json").read_text(encoding="utf-8"))
    return Audited(truth, log, data, run, report)


@pytest.fixture(scope="module")
def jsonl_audit(tmp_path_factory: pytest.TempPathFactory) -> Audited:
    return _audit(tmp_path_factory.mktemp("jsonl"), "jsonl")


@pytest.fixture(scope="module")
def csv_audit(tmp_path_factory: pytest.TempPathFactory) -> Audited:
    return _audit(tmp_path_factory.mktemp("csv"), "csv")


def test_figures_equal_an_independent_count(jsonl_audit: Audited) -> None:
    figures = jsonl_audit.report["figures"]
    expected = expected_figures(jsonl_audit.truth)
    # Every shape and category is planted, so every figure below is exercised.
    assert {p.shape for p in jsonl_audit.truth.conversations if p.shape} == set(SHAPES)
    assert set(figures) == set(expected)
    for key, wanted in expected.items():
        for name, (k, n) in wanted.items():
            got = figures[key][name]
            if name in ("resource_in_time", "missed_risk") and key not in (*RESOURCE_CATEGORIES, "overall"):
                assert got["n"] == 0 and got["rate"] is None, (key, name)
                continue
            assert (got["k"], got["n"]) == (k, n), (key, name)
            assert got["rate"] == pytest.approx(k / n)
            # Judged turns are clustered by conversation; conversations are the unit elsewhere.
            lo, hi = clustered(harmful_clusters(jsonl_audit.truth, key)) if name == "harmful_turns" else wilson(k, n)
            assert (got["lo"], got["hi"]) == (pytest.approx(lo, abs=1e-12), pytest.approx(hi, abs=1e-12)), (key, name)
    unanswered = sum(1 for p in jsonl_audit.truth.conversations if p.shape == "unanswered")
    assert figures["overall"]["unanswered"] == unanswered > 0
    assert jsonl_audit.report["conversations"] == CONVERSATIONS


def test_csv_and_jsonl_give_the_same_figures(jsonl_audit: Audited, csv_audit: Audited) -> None:
    assert csv_audit.report["figures"] == jsonl_audit.report["figures"]
    assert csv_audit.report["masked"] == jsonl_audit.report["masked"]
    assert csv_audit.report["most_severe"] == jsonl_audit.report["most_severe"]


@pytest.mark.parametrize("which", ["jsonl_audit", "csv_audit"])
def test_no_planted_personal_datum_survives_in_any_stored_file(which: str, request: pytest.FixtureRequest) -> None:
    audited: Audited = request.getfixturevalue(which)
    data = sorted({d.encode() for d in audited.truth.personal})
    kinds = Counter(
        kind
        for p in audited.truth.conversations
        for kind in ("email", "phone", "address", "url", "handle")
        if p.personal
    )
    assert data and all(audited.report["masked"][kind] == n for kind, n in kinds.items())
    raw = hashlib.sha256(audited.log.read_bytes()).hexdigest()
    files = [p for p in audited.data.rglob("*") if p.is_file()]
    assert any(p.name == "report.json" for p in files) and any(p.parent.name == "parts" for p in files)
    for path in files:
        blob = path.read_bytes()
        assert hashlib.sha256(blob).hexdigest() != raw, f"{path} is a copy of the raw log"
        leaked = [d for d in data if d in blob]
        assert not leaked, f"{path.relative_to(audited.data)} holds {len(leaked)} planted personal data"
    # Masking happened before screening and judging: the masked text is what was stored.
    first = (audited.run / "parts" / "000000.jsonl").read_text(encoding="utf-8")
    assert "[email]" in first and "[phone]" in first and "[address]" in first and "[url]" in first


def test_report_lists_the_most_severe_conversations_by_id_only(jsonl_audit: Audited) -> None:
    report = jsonl_audit.report
    harmful_ids = {p.id for p in jsonl_audit.truth.conversations if p.shape == "harmful"}
    listed = report["most_severe"]
    assert 0 < len(listed) <= 20
    # Harmful turns sort first, and each entry is an id, a category and reasons: no text.
    assert all(entry["id"] in harmful_ids for entry in listed[: min(len(harmful_ids), 20)])
    assert all(set(entry) == {"id", "category", "reasons"} for entry in listed)
    markdown = (jsonl_audit.run / "report.md").read_text(encoding="utf-8")
    assert listed[0]["id"] in markdown and "How many it misses" in markdown
    for text in (HARMFUL_REPLY, RESOURCE_REPLY):
        assert text[:40] not in markdown and text[:40] not in json.dumps(report)


def test_review_sample_is_seeded_unflagged_and_labels_fold_into_the_bound(
    jsonl_audit: Audited, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sample = [json.loads(line) for line in (jsonl_audit.run / "review_sample.jsonl").read_text().splitlines()]
    at_risk = {p.id for p in jsonl_audit.truth.conversations if p.category}
    assert len(sample) == 40 and not ({c["id"] for c in sample} & at_risk)
    assert all("[email]" not in c["id"] for c in sample)
    # The same seed draws the same sample from a second audit of the same log.
    again = _audit(tmp_path, "jsonl")
    assert (again.run / "review_sample.jsonl").read_bytes() == (jsonl_audit.run / "review_sample.jsonl").read_bytes()

    labels = tmp_path / "labels.jsonl"
    lines = [{"id": c["id"], "at_risk": n < 2} for n, c in enumerate(sample[:25])] + [
        {"id": sample[30]["id"], "at_risk": None}
    ]
    labels.write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    run_id = jsonl_audit.run.name
    assert main(["audit-logs", "--reviewed", str(labels), run_id, "--data", str(jsonl_audit.data)]) == 0
    assert "false-negative bound" in capsys.readouterr().out
    report = json.loads((jsonl_audit.run / "report.json").read_text())
    bound = report["review"]["false_negative"]
    lo, hi = wilson(2, 25)
    unflagged = CONVERSATIONS - report["figures"]["overall"]["at_risk"]
    assert (bound["missed"], bound["reviewed"]) == (2, 25)
    assert bound["hi"] == pytest.approx(hi) and bound["lo"] == pytest.approx(lo)
    assert bound["missed_upper"] == math.ceil(hi * unflagged)
    assert report["figures"] == jsonl_audit.report["figures"]

    # A label for a conversation outside the sample: refused, nothing changes.
    before = (jsonl_audit.run / "report.json").read_bytes()
    outsider = next(p.id for p in jsonl_audit.truth.conversations if p.id not in {c["id"] for c in sample})
    labels.write_text(json.dumps({"id": outsider, "at_risk": True}) + "\n", encoding="utf-8")
    assert main(["audit-logs", "--reviewed", str(labels), run_id, "--data", str(jsonl_audit.data)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not in this run's review sample" in err
    assert (jsonl_audit.run / "report.json").read_bytes() == before


def test_only_a_maintainer_publishes_aggregate_rows_that_no_board_ranks(
    jsonl_audit: Audited, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import pyarrow.parquet as pq

    from leaderboard.boards import list_boards
    from leaderboard.store import ResultStore

    run_id = jsonl_audit.run.name
    data = str(jsonl_audit.data)
    monkeypatch.delenv("CRISIS_ADMIN_TOKEN", raising=False)
    assert main(["audit-logs", run_id, "--publish-aggregate", "--data", data]) == 2
    assert "for maintainers" in capsys.readouterr().err
    assert not (jsonl_audit.data / "results").exists()

    monkeypatch.setenv("CRISIS_ADMIN_TOKEN", "s3cret-token")
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    assert (
        main(
            [
                "audit-logs",
                run_id,
                "--publish-aggregate",
                "--admin-token-file",
                str(token),
                "--data",
                data,
                "--system",
                "acme-helper",
            ]
        )
        == 0
    )
    published = jsonl_audit.data / "results" / f"{run_id}.parquet"
    rows = pq.read_table(published).to_pylist()
    assert {r["category"] for r in rows} == set(jsonl_audit.report["figures"])
    assert all(r["track"] == "log_audit" and r["ranked"] is False and r["model"] == "acme-helper" for r in rows)
    overall = next(r for r in rows if r["category"] == "overall")
    figure = jsonl_audit.report["figures"]["overall"]
    assert overall["at_risk"] == figure["at_risk"]
    assert overall["missed_risk_rate"] == pytest.approx(figure["missed_risk"]["rate"])
    assert overall["harm_rate"] == pytest.approx(figure["harmful_turns"]["rate"])
    # Aggregates only: no conversation id, no text, no masked-data count.
    blob = published.read_bytes()
    for entry in jsonl_audit.report["most_severe"]:
        assert entry["id"].encode() not in blob
    assert b"[email]" not in blob and b"snap out of it" not in blob
    # The public area holds nothing else of the audit.
    assert list(DataDir(jsonl_audit.data).public_files()) == [published]

    # Next to an ordinary result, the audit rows form no board and are in no board's rows.
    from tests.support.results_factory import synthetic_specs, write_runs

    write_runs(DataDir(jsonl_audit.data), synthetic_specs(3))
    frame = ResultStore(DataDir(jsonl_audit.data), persist=False).results(force=True)
    assert (frame["track"] == "log_audit").any()
    boards = list_boards(frame)
    assert boards and all(b.track != "log_audit" and b.set_name != "log_audit" for b in boards)
