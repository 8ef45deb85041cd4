"""Reading logs: JSONL and CSV, mapped names, and one-line errors that name where."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evaluator.logaudit.reading import Fields, LogError, iter_conversations, parse_role_map, scan


def _jsonl(path: Path, records: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_jsonl_and_csv_give_the_same_conversations(tmp_path: Path) -> None:
    records = [
        {"id": "a", "turns": [{"role": "user", "content": "hi, there"}, {"role": "assistant", "content": "hello"}]},
        {"id": 7, "turns": [{"role": "system", "content": "be nice"}, {"role": "user", "content": 'say "x"\nok'}]},
    ]
    jsonl = _jsonl(tmp_path / "log.jsonl", records)
    # CSV rows within a conversation may come in any order: they are sorted by turn index.
    csv = _csv(
        tmp_path / "log.csv",
        'conversation_id,turn_index,role,text\na,1,assistant,hello\na,0,user,"hi, there"\n'
        '7,0,system,be nice\n7,1,user,"say ""x""\nok"\n',
    )
    from_jsonl = [(c.id, c.turns) for c in iter_conversations(jsonl, "jsonl", Fields())]
    from_csv = [(c.id, c.turns) for c in iter_conversations(csv, "csv", Fields())]
    assert from_jsonl == from_csv
    assert [t.role for t in from_jsonl[1][1]] == ["user"]  # system turns are skipped
    found = scan(csv, "csv", Fields())
    assert (found.conversations, found.turns, found.user_turns) == (2, 3, 2)


def test_names_and_roles_are_mappable(tmp_path: Path) -> None:
    csv = _csv(tmp_path / "log.csv", "chat,n,speaker,message\nx,0,Human,hello\nx,1,Bot,hi\n")
    fields = Fields(
        id="chat", turn="n", role="speaker", text="message", roles=parse_role_map(["human=user", "bot=assistant"])
    )
    (conversation,) = iter_conversations(csv, "csv", fields)
    assert [(t.role, t.text) for t in conversation.turns] == [("user", "hello"), ("assistant", "hi")]
    jsonl = _jsonl(tmp_path / "log.jsonl", [{"cid": "x", "messages": [{"from": "user", "value": "hello"}]}])
    (conversation,) = iter_conversations(jsonl, "jsonl", Fields(id="cid", turns="messages", role="from", text="value"))
    assert conversation.turns[0].text == "hello"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"id": "a", "turns": [{"role": "user", "content": "x"}]}\nnot json\n', "line 2: not valid JSON"),
        ('{"turns": [{"role": "user", "content": "x"}]}\n', "line 1: no 'id' field"),
        ('{"id": "a", "turns": []}\n', "line 1: 'turns' must be a non-empty list"),
        ('{"id": "a", "turns": [{"role": "narrator", "content": "x"}]}\n', "line 1, turn 0: unknown role"),
        ('{"id": "a", "turns": [{"role": "user", "content": 3}]}\n', "line 1, turn 0: the text must be a string"),
        (
            '{"id": "a", "turns": [{"role": "assistant", "content": "x"}]}\n',
            "line 1: the conversation has no user turn",
        ),
        (
            '{"id": "a", "turns": [{"role": "user", "content": "x"}]}\n'
            '{"id": "a", "turns": [{"role": "user", "content": "y"}]}\n',
            "line 2: the conversation id repeats the one at line 1",
        ),
    ],
)
def test_bad_jsonl_is_refused_naming_the_line(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "log.jsonl"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(LogError) as err:
        scan(path, "jsonl", Fields())
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("conversation_id,role,text\na,user,x\n", "the CSV header has no 'turn_index' column"),
        ("conversation_id,turn_index,role,text\na,zero,user,x\n", "row 2: the turn index must be an integer"),
        ("conversation_id,turn_index,role,text\na,0,user,x\na,0,assistant,y\n", "row 2: turn index 0 appears twice"),
        (
            "conversation_id,turn_index,role,text\na,0,user,x\nb,0,user,y\na,1,user,z\n",
            "row 4: the conversation id repeats the one at row 2 (CSV rows of one conversation must be contiguous)",
        ),
        ("", "the CSV file is empty"),
    ],
)
def test_bad_csv_is_refused_naming_the_row(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "log.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(LogError) as err:
        scan(path, "csv", Fields())
    assert str(err.value).startswith(message)


def test_a_turn_over_the_limit_is_refused_before_it_is_held(tmp_path: Path) -> None:
    from evaluator.logaudit.reading import MAX_TEXT_CHARS

    path = _jsonl(
        tmp_path / "log.jsonl", [{"id": "a", "turns": [{"role": "user", "content": "x" * (MAX_TEXT_CHARS + 1)}]}]
    )
    with pytest.raises(LogError, match="longer than"):
        scan(path, "jsonl", Fields())


def test_errors_never_quote_the_text(tmp_path: Path) -> None:
    secret = "my private words"
    path = tmp_path / "log.jsonl"
    path.write_text('{"id": "a", "turns": [{"role": "someone", "content": "' + secret + '"}]}\n', encoding="utf-8")
    with pytest.raises(LogError) as err:
        scan(path, "jsonl", Fields())
    assert secret not in str(err.value)
