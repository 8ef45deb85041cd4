"""The one JSON-lines reader: line numbers, blank lines, and each bad-line policy."""

from __future__ import annotations

import io
import json
from pathlib import Path

import orjson
import pytest

from evaluator.storage import BadLine, JsonLineError, append_jsonl, iter_jsonl, read_jsonl

TEXT = '{"a": 1}\n\nnot json\n[2]\n"s"\n'


def test_numbers_count_blank_lines_and_skip_drops_bad_ones() -> None:
    assert list(iter_jsonl(TEXT.splitlines())) == [(1, {"a": 1}), (4, [2]), (5, "s")]


def test_raise_names_the_first_bad_line() -> None:
    with pytest.raises(JsonLineError, match="line 3: not valid JSON") as caught:
        list(iter_jsonl(TEXT.splitlines(), on_bad="raise"))
    assert (caught.value.number, caught.value.kind) == (3, "json")
    assert caught.value.reason == "Expecting value at column 1"
    with pytest.raises(JsonLineError) as deep:
        list(iter_jsonl(["[" * 100_000], on_bad="raise"))
    assert deep.value.reason == "nested too deeply"


def test_keep_yields_the_bad_text_in_place_distinct_from_a_json_string() -> None:
    got = list(iter_jsonl(TEXT.splitlines(), on_bad="keep"))
    assert got[1] == (3, "not json") and isinstance(got[1][1], BadLine)
    assert got[3] == (5, "s") and not isinstance(got[3][1], BadLine)


def test_bytes_lines_with_orjson_and_bad_utf8() -> None:
    lines = [b'{"a": 1}\n', b'"\xff"\n', b"[1]\n"]
    assert list(iter_jsonl(lines, loads=orjson.loads)) == [(1, {"a": 1}), (3, [1])]
    kept = list(iter_jsonl(lines, loads=orjson.loads, on_bad="keep"))
    assert kept[1] == (2, '"\ufffd"\n')


def test_a_long_line_is_bad_before_it_is_parsed() -> None:
    fh = io.BytesIO(b"[1]\n" + b'"' + b"x" * 50 + b'"\n' + b"[3]\n")
    lines = iter(lambda: fh.readline(21), b"")
    with pytest.raises(JsonLineError, match="line 2: longer than 20 bytes") as caught:
        list(iter_jsonl(lines, max_line_bytes=20, on_bad="raise"))
    assert caught.value.kind == "length"


def test_deep_nesting_is_a_bad_line_not_a_crash() -> None:
    assert list(iter_jsonl(["[" * 100_000, "[1]"])) == [(2, [1])]


def test_whole_lines_drops_a_torn_tail(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    append_jsonl(path, [{"n": 1}, {"n": 2}])
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps({"n": 3}))  # complete JSON, but its newline never came
    assert read_jsonl(path) == [{"n": 1}, {"n": 2}]
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    assert [n for n, _ in iter_jsonl(lines, whole_lines=True)] == [1, 2]
    assert [n for n, _ in iter_jsonl(lines)] == [1, 2, 3]
