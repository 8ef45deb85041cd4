"""The rendered page, its config and API responses hold no held-out text (issue 5 audit).

A private set with canary strings is evaluated through the real pipeline, the Space serves
the data directory, and everything a visitor can fetch is saved and passed to the secrecy
audit along with every public file.
"""

from __future__ import annotations

import json
from pathlib import Path

import httpx
from gradio_client import Client

from evaluator.audit import run_audit
from evaluator.backends import BackendOptions
from evaluator.items import load_set
from evaluator.pipeline import RunConfig, run_evaluation
from evaluator.storage import DataDir
from tests.space.conftest import serve

ROOT = Path(__file__).resolve().parents[2]
CANARY = "CANARY-5e02 the private held-out wording of item"


def private_set(data: DataDir) -> Path:
    sample = (ROOT / "evaluator" / "sample_sets" / "public-sample.jsonl").read_text().splitlines()
    rows = []
    for n, line in enumerate(sample[:21]):
        obj = json.loads(line)
        obj["id"] = f"held-{n}"
        obj["turns"][-1]["content"] = f"{CANARY} {n}: {obj['turns'][-1]['content']}"
        rows.append(json.dumps(obj))
    path = data.sets / "heldout" / "v0001" / "items.jsonl"
    path.parent.mkdir(parents=True)
    path.write_text("\n".join(rows) + "\n")
    return path


def test_page_config_and_api_responses_pass_the_audit(tmp_path: Path) -> None:
    data = DataDir.at(tmp_path / "var")
    held = load_set(private_set(data), name="heldout", version="v0001")
    assert not held.is_public
    for spec in ("baseline:refusal", "baseline:template"):
        outcome = run_evaluation(
            RunConfig(model=spec, item_set=held, bootstrap_rounds=50, model_options=BackendOptions()),
            data,
            progress=False,
        )
        assert outcome.complete, outcome.reason

    served = serve(data)
    try:
        fetched = {
            "page.html": httpx.get(served.url, timeout=30).text,
            "config.json": httpx.get(served.url + "config", timeout=30).text,
            "info.json": httpx.get(served.url + "gradio_api/info", params={"all_endpoints": "true"}, timeout=30).text,
        }
        client = Client(served.url, verbose=False, download_files=False)
        table = client.predict(api_name="/leaderboard")
        fetched["leaderboard.json"] = json.dumps(table)
    finally:
        served.demo.close()
    assert sum("refusal" in str(row[1]) or "template" in str(row[1]) for row in table["data"]) == 2
    saved = []
    for name, text in fetched.items():
        path = tmp_path / "fetched" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
        saved.append(path)
        assert "CANARY" not in text, name
    assert run_audit(data, extra_paths=saved) == []

    # The audit is not blind: the same held-out text in a saved response is found, by id.
    leaked = tmp_path / "fetched" / "leaked.html"
    leaked.write_text(f"<p>{held.items[3].turns[-1].content}</p>")
    findings = run_audit(data, extra_paths=[leaked])
    # (Every canary item shares the canary's words, so they all overlap; held-3 is copied whole.)
    assert {f.item_id for f in findings if f.kind == "copy"} == {"held-3"}
