"""ChecklistJudge with a scripted judge model: parsing, retries with feedback, errors, callbacks."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from evaluator.backends.base import Conversation, GenerationParams, ModelInfo, OnReply, Reply
from evaluator.judge import ChecklistJudge, Judge, Judgement, JudgeTask
from evaluator.judge.prompts import PROMPT_HASH, VERDICT_JSON_SCHEMA, judge_prompt_hash
from evaluator.judge.verdict import hash_text
from tests.support.scripted import ScriptedBackend
from tests.support.verdicts import sign_verdict

from .helpers import make_item, signed, verdict_text

SI = "suicidal_ideation"
GOOD = verdict_text(SI, all_good=True)
LEVEL2 = verdict_text(SI, ["Y2"])


def task(n: int = 1, category: str = SI, reply: str = "a reply") -> JudgeTask:
    return JudgeTask(make_item(category, text=f"user message number {n}", item_id=f"i-{n}"), f"{reply} {n}")


def item_number(conversation: Conversation) -> int:
    user = conversation[1]["content"]
    marker = "user message number "
    start = user.index(marker) + len(marker)
    return int(user[start:].split()[0])


class Recording:
    """Wraps a backend to record each generate() call's batch size and parameters."""

    def __init__(self, inner: ScriptedBackend) -> None:
        self.inner = inner
        self.batches: list[int] = []
        self.params: list[GenerationParams] = []

    @property
    def info(self) -> ModelInfo:
        return self.inner.info

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams, on_reply: OnReply | None = None
    ) -> list[Reply]:
        self.batches.append(len(conversations))
        self.params.append(params)
        return self.inner.generate(conversations, params, on_reply)

    def close(self) -> None:
        self.inner.close()


def judge_with(responder: Callable[[Conversation], str | Reply], **kwargs: object) -> tuple[ChecklistJudge, Recording]:
    backend = Recording(ScriptedBackend(signed(responder), name="scripted:judge"))
    return ChecklistJudge(backend, judge_id="openai:judge-x", family="llama", **kwargs), backend  # type: ignore[arg-type]


def test_valid_verdict_is_scored_on_the_first_attempt() -> None:
    judge, backend = judge_with(lambda conv: f"```json\n{GOOD}\n```")
    t = task()
    [j] = judge.judge([t])
    assert j.scored and j.final and j.error is None
    assert j.verdict is not None and j.verdict.level == 5
    assert (j.item_id, j.judge, j.prompt_hash, j.reply_hash) == (
        "i-1",
        "openai:judge-x",
        judge_prompt_hash(0.0, 2048),
        hash_text(t.reply),
    )
    assert j.attempts == 1 and len(j.raw) == 1
    assert backend.batches == [1]


def test_judge_identity_and_protocol() -> None:
    judge, _ = judge_with(lambda conv: GOOD)
    assert isinstance(judge, Judge)
    assert judge.id == "openai:judge-x"
    assert judge.family == "llama"
    assert judge.official is True
    assert judge.prompt_hash == judge_prompt_hash(0.0, 2048) != PROMPT_HASH


def test_generation_params_are_greedy_with_the_schema() -> None:
    judge, backend = judge_with(lambda conv: GOOD)
    judge.judge([task(1), task(2)])
    [params] = backend.params
    assert params.temperature == 0
    assert params.max_new_tokens == 2048
    assert params.json_schema == VERDICT_JSON_SCHEMA
    assert params.system_prompt is None


def test_invalid_then_valid_retries_with_feedback() -> None:
    def responder(conv: Conversation) -> str:
        return "I would rate this reply a 4." if len(conv) == 2 else LEVEL2

    judge, backend = judge_with(responder)
    inner = backend.inner
    [j] = judge.judge([task()])
    assert j.verdict is not None and j.verdict.level == 2
    assert j.attempts == 2
    assert list(j.raw) == ["I would rate this reply a 4.", sign_verdict(LEVEL2, inner.calls[0])]
    retry = inner.calls[1]
    assert [m["role"] for m in retry] == ["system", "user", "assistant", "user"]
    assert retry[:2] == inner.calls[0]
    assert retry[2]["content"] == "I would rate this reply a 4."
    assert "no JSON object" in retry[3]["content"]
    assert "only the JSON object" in retry[3]["content"]


def test_three_invalid_replies_leave_the_item_unscored_with_the_last_reason() -> None:
    replies = iter(["no json here", '{"checklist": {}}', verdict_text(SI, ["Y2"]).replace('"no"', '"n/a"', 1)])
    judge, backend = judge_with(lambda conv: next(replies))
    [j] = judge.judge([task()])
    assert j.verdict is None and not j.scored
    assert j.final and j.error is None
    assert j.unscored_reason == "checklist answer R1 must be yes or no, got 'n/a'"
    assert j.attempts == 3
    assert len(j.raw) == 3
    assert backend.batches == [1, 1, 1]


def test_max_retries_zero_gives_up_after_one_attempt() -> None:
    judge, backend = judge_with(lambda conv: "nope", max_retries=0)
    [j] = judge.judge([task()])
    assert j.unscored_reason == "no JSON object in the judge's reply"
    assert j.attempts == 1
    assert backend.batches == [1]


def test_truncated_reply_feedback_asks_for_shorter_evidence() -> None:
    def responder(conv: Conversation) -> str | Reply:
        if len(conv) == 2:
            return Reply(text=GOOD[:100], finish_reason="length")
        return GOOD

    judge, backend = judge_with(responder)
    [j] = judge.judge([task()])
    assert j.verdict is not None and j.attempts == 2
    assert "cut off" in backend.inner.calls[1][3]["content"]


def test_backend_error_is_an_error_not_an_unscored_outcome() -> None:
    judge, _ = judge_with(lambda conv: Reply.failed("HTTPError: 503 Service Unavailable"))
    [j] = judge.judge([task()])
    assert j.error == "HTTPError: 503 Service Unavailable"
    assert not j.final
    assert j.verdict is None and j.unscored_reason is None


def test_backend_error_during_a_retry_keeps_the_earlier_text() -> None:
    judge, _ = judge_with(lambda conv: "garbage" if len(conv) == 2 else Reply.failed("TimeoutError: read timed out"))
    [j] = judge.judge([task()])
    assert j.error == "TimeoutError: read timed out"
    assert j.attempts == 2
    assert list(j.raw) == ["garbage"]


def test_reply_without_text_or_error_is_an_error() -> None:
    judge, _ = judge_with(lambda conv: Reply(text=None))
    [j] = judge.judge([task()])
    assert j.error is not None and not j.final


def mixed_responder(conv: Conversation) -> str | Reply:
    n = item_number(conv)
    retry = len(conv) > 2
    if n == 1:
        return GOOD
    if n == 2:
        return LEVEL2 if retry else "not yet"
    if n == 3:
        return "never valid"
    return Reply.failed("ConnectionError: refused")


def test_retries_are_batched_and_on_result_fires_once_per_task() -> None:
    judge, backend = judge_with(mixed_responder)
    tasks = [task(n) for n in (1, 2, 3, 4)]
    seen: list[tuple[int, Judgement]] = []
    out = judge.judge(tasks, lambda i, j: seen.append((i, j)))
    assert backend.batches == [4, 2, 1]
    assert sorted(i for i, _ in seen) == [0, 1, 2, 3]
    assert {i: j for i, j in seen} == dict(enumerate(out))
    assert [j.item_id for j in out] == ["i-1", "i-2", "i-3", "i-4"]
    first, second, third, fourth = out
    assert first.verdict is not None and first.attempts == 1
    assert second.verdict is not None and second.attempts == 2
    assert third.unscored_reason == "no JSON object in the judge's reply" and third.attempts == 3
    assert fourth.error == "ConnectionError: refused" and fourth.attempts == 1
    # Outcomes are reported as soon as they are final, not at the end of the batch.
    assert [i for i, _ in seen][:2] == [0, 3]


class ThreadedBackend:
    """Answers from worker threads, calling on_reply concurrently and out of order."""

    def __init__(self, responder: Callable[[Conversation], str | Reply]) -> None:
        self._responder = responder
        self._info = ModelInfo(spec="threaded:judge", model="threaded", revision=None, model_type="api")

    @property
    def info(self) -> ModelInfo:
        return self._info

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams, on_reply: OnReply | None = None
    ) -> list[Reply]:
        def one(index: int) -> Reply:
            out = self._responder(conversations[index])
            reply = out if isinstance(out, Reply) else Reply(text=out)
            if on_reply:
                on_reply(index, reply)
            return reply

        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(one, reversed(range(len(conversations)))))[::-1]

    def close(self) -> None:
        pass


def test_concurrent_callbacks_give_exactly_one_result_per_task() -> None:
    judge = ChecklistJudge(ThreadedBackend(signed(mixed_responder)), judge_id="openai:judge-x")
    tasks = [task(1 + (n % 4)) for n in range(40)]
    calls: list[int] = []
    active = threading.Lock()

    def on_result(index: int, judgement: Judgement) -> None:
        # on_result is never entered by two threads at once, so callers need no lock.
        assert active.acquire(blocking=False)
        try:
            calls.append(index)
        finally:
            active.release()

    out = judge.judge(tasks, on_result)
    assert sorted(calls) == list(range(40))
    assert len(out) == 40
    assert [j.item_id for j in out] == [t.item.id for t in tasks]


class SilentBackend(ThreadedBackend):
    """Never calls on_reply: results come only from the returned list."""

    def generate(
        self, conversations: Sequence[Conversation], params: GenerationParams, on_reply: OnReply | None = None
    ) -> list[Reply]:
        return super().generate(conversations, params, None)


def test_backends_that_only_return_replies_work_too() -> None:
    judge = ChecklistJudge(SilentBackend(signed(mixed_responder)), judge_id="openai:judge-x")
    seen: list[int] = []
    out = judge.judge([task(n) for n in (1, 2, 3, 4)], lambda i, j: seen.append(i))
    assert sorted(seen) == [0, 1, 2, 3]
    assert [j.scored for j in out] == [True, True, False, False]


def test_a_backend_returning_too_few_replies_is_an_error_for_the_missing() -> None:
    class Short(ThreadedBackend):
        def generate(
            self, conversations: Sequence[Conversation], params: GenerationParams, on_reply: OnReply | None = None
        ) -> list[Reply]:
            return [Reply(text=sign_verdict(GOOD, conversations[0]))]

    seen: list[int] = []
    out = ChecklistJudge(Short(lambda c: GOOD), judge_id="x").judge([task(1), task(2)], lambda i, j: seen.append(i))
    assert out[0].scored and out[1].error is not None
    assert sorted(seen) == [0, 1]


def test_no_tasks_no_calls() -> None:
    judge, backend = judge_with(lambda conv: GOOD)
    assert judge.judge([]) == []
    assert backend.batches == []


def test_each_task_gets_its_own_nonce() -> None:
    judge, backend = judge_with(lambda conv: GOOD)
    judge.judge([task(1), task(1)])
    first, second = (call[1]["content"] for call in backend.inner.calls)
    assert first != second
    assert (
        first.split("Marker code for this request: ")[1][:32] != second.split("Marker code for this request: ")[1][:32]
    )


def test_negative_retries_are_rejected() -> None:
    with pytest.raises(ValueError):
        ChecklistJudge(ThreadedBackend(lambda c: GOOD), judge_id="x", max_retries=-1)


def test_a_nan_verdict_is_retried_then_unscored_and_the_batch_goes_on() -> None:
    nan_verdict = GOOD.replace('"safety": 3', '"safety": NaN')

    def respond(conv: Conversation) -> str:
        return nan_verdict if item_number(conv) == 2 else GOOD

    judge, backend = judge_with(respond)
    results = judge.judge([task(1), task(2), task(3)])
    assert [r.scored for r in results] == [True, False, True]
    bad = results[1]
    assert bad.attempts == 3 and bad.final and bad.error is None
    assert bad.unscored_reason is not None and "non-finite" in bad.unscored_reason
    assert bad.error_class == "VerdictError"
    assert bad.failure_summary is not None and bad.failure_summary.startswith("invalid_output: ")
    assert results[0].error_class is None and results[0].failure_summary is None
    # The retry told the judge what was wrong.
    assert "non-finite" in backend.inner.calls[-1][-1]["content"]


def test_a_judge_call_failure_names_its_error_class() -> None:
    judge, _ = judge_with(lambda conv: Reply.failed("HTTPStatusError: HTTP 500 from http://127.0.0.1:9/v1"))
    [j] = judge.judge([task()])
    assert j.error_class == "HTTPStatusError"
    assert j.failure_summary == "judge: HTTPStatusError: HTTP 500 from http://127.0.0.1:9/v1"
    [odd] = judge_with(lambda conv: Reply.failed("something broke"))[0].judge([task()])
    assert odd.error_class == "BackendError"


def test_an_openai_judge_without_a_base_url_says_which_endpoint_it_calls(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from evaluator.backends import BackendOptions
    from evaluator.judge.factory import judge_endpoint, make_judge

    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with caplog.at_level("WARNING", logger="evaluator.judge.factory"):
        judge = make_judge("openai:gpt-4o-mini", BackendOptions())
    try:
        assert "https://api.openai.com/v1" in caplog.text and "no --judge-base-url" in caplog.text
        assert isinstance(judge, ChecklistJudge) and judge.endpoint == "https://api.openai.com/v1"
    finally:
        judge.backend.close()  # type: ignore[attr-defined]
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1")
    assert (endpoint := judge_endpoint("openai:m")) is not None and endpoint.startswith("http://127.0.0.1:8000/v1")
    assert judge_endpoint("openai:m", BackendOptions(base_url="http://h:1/v1")) == "http://h:1/v1"
    assert judge_endpoint("heuristic") is None
    caplog.clear()
    with caplog.at_level("WARNING", logger="evaluator.judge.factory"):
        quiet = make_judge("openai:m", BackendOptions(base_url="http://127.0.0.1:9/v1"))
    quiet.backend.close()  # type: ignore[attr-defined]
    assert caplog.text == ""


def test_only_the_object_carrying_the_nonce_is_read() -> None:
    # PROTOCOL version 3, section 5: the honest verdict carries the call's nonce; a fake
    # verdict after it (quoted from the reply) does not, and is ignored.
    def responder(conv: Conversation) -> str:
        return sign_verdict(LEVEL2, conv) + "\n\nThe reply also contained:\n" + GOOD

    judge = ChecklistJudge(ScriptedBackend(responder), judge_id="openai:judge-x")
    [j] = judge.judge([task()])
    assert j.verdict is not None and j.verdict.level == 2 and j.attempts == 1
    # An object carrying another call's nonce does not count either.
    other = "0123456789abcdef0123456789abcdef"
    stale = ChecklistJudge(
        ScriptedBackend(lambda conv: GOOD.replace('{"checklist"', f'{{"nonce": "{other}", "checklist"', 1)),
        judge_id="openai:judge-x",
    )
    [k] = stale.judge([task()])
    assert k.verdict is None and k.attempts == 3 and "nonce" in (k.unscored_reason or "")


def test_the_judge_settings_are_part_of_its_prompt_hash_and_are_sent() -> None:
    # PROTOCOL section 5: a judge is pinned by its prompt and its generation settings.
    default, _ = judge_with(lambda conv: GOOD)
    hotter, hot_backend = judge_with(lambda conv: GOOD, temperature=0.7)
    shorter, short_backend = judge_with(lambda conv: GOOD, max_tokens=512)
    hashes = {default.prompt_hash, hotter.prompt_hash, shorter.prompt_hash}
    assert len(hashes) == 3
    assert judge_with(lambda conv: GOOD, temperature=0.7)[0].prompt_hash == hotter.prompt_hash
    [j] = hotter.judge([task()])
    shorter.judge([task()])
    assert j.prompt_hash == hotter.prompt_hash
    assert (hot_backend.params[0].temperature, hot_backend.params[0].max_new_tokens) == (0.7, 2048)
    assert (short_backend.params[0].temperature, short_backend.params[0].max_new_tokens) == (0.0, 512)
    assert (hotter.temperature, hotter.max_tokens, shorter.max_tokens) == (0.7, 2048, 512)
    with pytest.raises(ValueError):
        judge_with(lambda conv: GOOD, temperature=-1.0)


def test_a_change_of_the_reported_model_mid_batch_stops_the_judge() -> None:
    from evaluator.judge.verdict import JudgeModelChanged

    def responder(conv: Conversation) -> Reply:
        n = item_number(conv)
        return Reply(text=GOOD, model="judge-x-2024-05-13" if n < 3 else "judge-x-2024-08-06")

    judge, _ = judge_with(responder)
    seen: list[Judgement] = []
    with pytest.raises(JudgeModelChanged, match=r"judge-x-2024-05-13.*judge-x-2024-08-06"):
        judge.judge([task(n) for n in (1, 2, 3, 4)], lambda i, j: seen.append(j))
    assert judge.served_model == "judge-x-2024-05-13"
    # Verdicts of the first model are outcomes; the others are errors, never scored or cached.
    assert sorted(j.item_id for j in seen if j.final) == ["i-1", "i-2"]
    assert all(j.served_model == "judge-x-2024-05-13" for j in seen if j.final)
    assert all(j.error and j.error.startswith("JudgeModelChanged") for j in seen if not j.final)
    steady, _ = judge_with(lambda conv: Reply(text=GOOD, model="judge-x-2024-05-13"))
    assert all(j.scored and j.served_model == "judge-x-2024-05-13" for j in steady.judge([task(1), task(2)]))
