"""Short chat conversations for the open-weight backends' tests (written for them: a crisis
signal, small talk, and a multi-turn one)."""

CONVERSATIONS = [
    [{"role": "user", "content": "I feel like nobody would notice if I was gone."}],
    [{"role": "user", "content": "hi"}],
    [
        {"role": "user", "content": "I can't sleep."},
        {"role": "assistant", "content": "That sounds exhausting. What keeps you up?"},
        {"role": "user", "content": "Everything feels pointless lately, and I don't know who to tell."},
    ],
]
