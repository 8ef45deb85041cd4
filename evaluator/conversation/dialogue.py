"""One conversation between the model under test and a simulated person, as it grows turn by turn.

Turns alternate: the person's opening, the model's reply, the person's next message, and so
on. The person may leave (their message carries `ended`, or they leave without a word after a
model turn); then the model gets no further turn. A conversation is over when the person left
or when they have said `max_turns` messages and the model has answered the last one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from evaluator.conversation.persona import Persona


@dataclass
class Dialogue:
    persona: Persona
    max_turns: int
    turns: list[dict[str, str]] = field(default_factory=list)
    # The user turn (1-based) at which the person left: their message that said goodbye, or
    # the turn they did not take. None while they stay.
    left_at: int | None = None

    @classmethod
    def start(cls, persona: Persona, max_turns: int | None = None) -> Dialogue:
        limit = persona.max_turns if max_turns is None else min(max_turns, persona.max_turns)
        return cls(persona, max(1, limit), [{"role": "user", "content": persona.opening}])

    @property
    def user_turns(self) -> int:
        return sum(1 for t in self.turns if t["role"] == "user")

    @property
    def model_turns(self) -> int:
        return sum(1 for t in self.turns if t["role"] == "assistant")

    @property
    def needs_model(self) -> bool:
        return self.left_at is None and self.turns[-1]["role"] == "user"

    @property
    def needs_person(self) -> bool:
        return self.left_at is None and self.turns[-1]["role"] == "assistant" and self.user_turns < self.max_turns

    @property
    def done(self) -> bool:
        return not (self.needs_model or self.needs_person)

    def add_model(self, text: str) -> None:
        assert self.needs_model
        self.turns.append({"role": "assistant", "content": text})

    def add_person(self, text: str | None, ended: bool) -> None:
        assert self.needs_person
        if text:
            self.turns.append({"role": "user", "content": text})
        if ended or not text:
            self.left_at = self.user_turns if text else self.user_turns + 1

    def context(self, model_turn: int) -> list[dict[str, str]]:
        """The conversation up to and including the user message that model turn `model_turn` answers."""
        out: list[dict[str, str]] = []
        users = 0
        for turn in self.turns:
            if turn["role"] == "user":
                users += 1
                if users > model_turn:
                    break
            elif users >= model_turn:
                break
            out.append(turn)
        return out

    def model_replies(self) -> list[str]:
        return [t["content"] for t in self.turns if t["role"] == "assistant"]

    def to_json(self) -> dict[str, Any]:
        return {"persona": self.persona.id, "turns": self.turns, "left_at": self.left_at}
