"""Audits of a deployer's real conversation logs (PROTOCOL section 10).

Not to be confused with `evaluator.audit`, the secrecy audit of public files. One concept per
module: `reading` (streaming JSONL/CSV), `masking` (personal data), `screening` (crisis
signals per user turn), `judging` (the checklist on assistant turns after the first flag),
`figures` (section 10's rates and intervals), `sampling` (the seeded review sample),
`report` (the private report), `run` (batches, resume, the run directory) and `publish` (the
public aggregate rows). The `audit-logs` verb: evaluator/cli/audit_logs.py.
"""

from evaluator.logaudit.masking import mask
from evaluator.logaudit.reading import Conversation, Fields, LogError, LogTurn, iter_conversations, scan
from evaluator.logaudit.run import (
    AuditConfig,
    AuditError,
    AuditOutcome,
    audit_logs,
    finalize,
    fold_reviews,
    read_parts,
    run_dir,
)
from evaluator.logaudit.screening import HeuristicScreener, ModelScreener, screen_text

__all__ = [
    "AuditConfig",
    "AuditError",
    "AuditOutcome",
    "Conversation",
    "Fields",
    "HeuristicScreener",
    "LogError",
    "LogTurn",
    "ModelScreener",
    "audit_logs",
    "finalize",
    "fold_reviews",
    "iter_conversations",
    "mask",
    "read_parts",
    "run_dir",
    "scan",
    "screen_text",
]
