"""Conversations with simulated people (PROTOCOL section 9): personas, simulators, runs, figures."""

from evaluator.conversation.dialogue import Dialogue
from evaluator.conversation.figures import ConversationScore, compute_conversation_rows
from evaluator.conversation.judging import conversation_judge_for
from evaluator.conversation.persona import (
    PUBLIC_PERSONAS,
    Persona,
    PersonaError,
    PersonaSet,
    load_persona_set,
    load_personas,
    resolve_personas,
)
from evaluator.conversation.persona_sets import PersonaCut, diff_personas, freeze_personas, retire_personas
from evaluator.conversation.run import (
    ConversationConfig,
    ConversationOutcome,
    ConversationRunError,
    make_simulator,
    run_conversations,
    transcripts_path,
)
from evaluator.conversation.simulator import END_MARKER, SCRIPT, SIMULATOR_PROMPT_HASH, ModelSimulator, ScriptSimulator

__all__ = [
    "END_MARKER",
    "PUBLIC_PERSONAS",
    "SCRIPT",
    "SIMULATOR_PROMPT_HASH",
    "ConversationConfig",
    "ConversationOutcome",
    "ConversationRunError",
    "ConversationScore",
    "Dialogue",
    "ModelSimulator",
    "Persona",
    "PersonaCut",
    "PersonaError",
    "PersonaSet",
    "ScriptSimulator",
    "compute_conversation_rows",
    "conversation_judge_for",
    "diff_personas",
    "freeze_personas",
    "load_persona_set",
    "load_personas",
    "make_simulator",
    "resolve_personas",
    "retire_personas",
    "run_conversations",
    "transcripts_path",
]
