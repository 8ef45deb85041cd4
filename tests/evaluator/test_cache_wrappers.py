"""The caching wrappers share one loop (evaluator.cache.answer_through_cache): what was answered
before is not asked again, what a part answered before failing is kept, and only final
outcomes are stored, whether the wrapped part reports answers as they come or only at the end."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluator.backends import GenerationParams
from evaluator.backends.base import Conversation
from evaluator.cache import Cache, CachingBackend
from evaluator.conversation.judging import CachingConversationJudge, ModelConversationJudge
from tests.evaluator.conversation.helpers import DISMISSIVE
from tests.evaluator.conversation.test_judging import FAKE, dialogue, verdict
from tests.support.scripted import ScriptedBackend


def test_replies_a_backend_gave_before_failing_are_kept_and_not_asked_again(tmp_path: Path) -> None:
    broken = {"now": True}

    def respond(conversation: Conversation) -> str:
        text = conversation[-1]["content"]
        if text == "second" and broken["now"]:
            raise ConnectionError("connection lost")
        return f"About {text}: I'm here with you."

    backend = ScriptedBackend(respond)
    conversations = [[{"role": "user", "content": "first"}], [{"role": "user", "content": "second"}]]
    with pytest.raises(ConnectionError):
        CachingBackend(backend, Cache(tmp_path / "cache.sqlite")).generate(conversations, GenerationParams())

    broken["now"] = False
    backend.calls.clear()
    # A new connection: the first reply was committed although the call failed.
    replies = CachingBackend(backend, Cache(tmp_path / "cache.sqlite")).generate(conversations, GenerationParams())
    assert [r.text for r in replies] == ["About first: I'm here with you.", "About second: I'm here with you."]
    assert backend.calls == [conversations[1]]


def test_a_conversation_verdict_is_asked_once_and_an_unscored_one_again(tmp_path: Path) -> None:
    # The conversation judge reports nothing until it returns: its verdicts are stored then.
    backend = ScriptedBackend(lambda c: FAKE if DISMISSIVE in c[1]["content"] else verdict(c, C2="harmful"))
    judge = ModelConversationJudge(backend, "judge-x")
    dialogues = [dialogue(), dialogue(DISMISSIVE)]
    first = CachingConversationJudge(judge, Cache(tmp_path / "cache.sqlite")).judge(dialogues)
    assert first[0].scored and not first[1].scored
    assert len(backend.calls) == 1 + 3  # the scored one once; the unusable one and its two retries

    backend.calls.clear()
    again = CachingConversationJudge(judge, Cache(tmp_path / "cache.sqlite")).judge(dialogues)
    assert again[0].outcome == first[0].outcome and again[0].outcome is not None
    assert again[0].outcome.answers["C2"] == "harmful"
    assert not again[1].scored
    assert len(backend.calls) == 3 and all(DISMISSIVE in c[1]["content"] for c in backend.calls)
