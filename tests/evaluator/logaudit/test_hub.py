"""A log audit on a Hub store (the loopback Hub emulator over real HTTP): the run goes to the
private repo, nothing reaches a public repo until a maintainer publishes, and then only the
aggregate rows; a second machine resumes or reads the run from the Hub."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluator.logaudit.publish import publish_aggregate
from evaluator.logaudit.run import AuditConfig, audit_logs, run_prefix
from tests.support.hub_store import hub_site
from tests.support.log_generator import write_log

STORE = "hub:crisis-org/audit"


def _files(site: object, repo_id: str) -> dict[str, bytes]:
    from huggingface_hub import HfApi, hf_hub_download

    api = HfApi(endpoint=site.endpoint, token=site.write_token)  # type: ignore[attr-defined]
    out = {}
    for name in api.list_repo_files(repo_id, repo_type="dataset"):
        local = hf_hub_download(
            repo_id,
            name,
            repo_type="dataset",
            endpoint=site.endpoint,  # type: ignore[attr-defined]
            token=site.write_token,  # type: ignore[attr-defined]
        )
        out[name] = Path(local).read_bytes()
    return out


def test_audit_on_a_hub_store_stays_private_until_published(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    log = tmp_path / "log.jsonl"
    truth = write_log(log, 1_500, seed=9)
    with hub_site(tmp_path, monkeypatch, STORE) as site:
        store = site.open("auditor")
        outcome = audit_logs(AuditConfig(source=log, fmt="jsonl", review_sample=20), store, progress=False)
        assert outcome.complete and outcome.report is not None
        run_id = outcome.run_id

        private = _files(site, "crisis-org/audit-private")
        public = _files(site, "crisis-org/audit-results")
        prefix = run_prefix(run_id)
        assert f"{prefix}report.json" in private and f"{prefix}parts/000000.jsonl" in private
        assert f"{prefix}review_sample.jsonl" in private
        assert not [name for name in public if name.startswith(("results/", "public/"))]
        planted = [d.encode() for d in truth.personal]
        for repo in (private, public):
            for name, blob in repo.items():
                assert not [d for d in planted if d in blob], name

        # Another machine reads the finished run from the Hub and publishes its aggregates.
        other = site.open("maintainer")
        path = publish_aggregate(other, run_id, "acme-helper")
        assert path.name == f"{run_id}.parquet"
        public = _files(site, "crisis-org/audit-results")
        assert [n for n in public if n.startswith(("results/", "public/"))] == [f"results/{run_id}.parquet"]
        assert b"acme-helper" in public[f"results/{run_id}.parquet"]
        report = json.loads(private[f"{prefix}report.json"])
        assert report["figures"]["overall"]["at_risk"] == sum(1 for p in truth.conversations if p.category)
