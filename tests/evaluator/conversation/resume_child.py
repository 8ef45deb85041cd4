"""Child process of the kill-and-resume test: a slow conversation run on the public personas."""

from __future__ import annotations

import sys

from evaluator.conversation.persona import resolve_personas
from evaluator.conversation.run import ConversationConfig, run_conversations
from evaluator.judge.heuristic import HeuristicJudge
from evaluator.storage import DataDir
from tests.evaluator.conversation.helpers import varied
from tests.support.scripted import ScriptedBackend


def main(root: str, latency: float) -> None:
    data = DataDir.at(root)
    personas = resolve_personas("public-personas", data)
    backend = ScriptedBackend(varied, latency_s=latency)
    config = ConversationConfig(model="scripted:test", personas=personas)
    outcome = run_conversations(config, data, progress=False, backend=backend, judges=[HeuristicJudge()])
    print(outcome.status, len(backend.calls))


if __name__ == "__main__":
    main(sys.argv[1], float(sys.argv[2]))
