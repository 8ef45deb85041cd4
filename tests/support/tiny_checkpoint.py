"""A real, tiny causal LM built at test time, so the hf: backend is tested end to end offline.

Everything a Hub chat model ships is here in miniature: a byte-level BPE tokenizer with
bos/eos/pad, a Jinja chat template, a Llama config and safetensors weights. The weights are
random (fixed seed), so replies are gibberish, but they are the same gibberish every run.
torch, tokenizers and transformers are imported inside the builder so that importing this
module (conftest does) costs nothing for tests that never ask for a checkpoint.
"""

from __future__ import annotations

from pathlib import Path

BOS, EOS, PAD = "<s>", "</s>", "<pad>"
ROLE_TOKENS = ("<|system|>", "<|user|>", "<|assistant|>")
SPECIAL_TOKENS = (PAD, BOS, EOS, *ROLE_TOKENS)
VOCAB_SIZE = 400
MAX_POSITIONS = 256
SEED = 1234

# Unknown roles raise, like many real templates do (Gemma refuses "system"): tests use that to
# exercise a conversation that fails on its own without failing its batch.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] not in ['system', 'user', 'assistant'] %}"
    "{{ raise_exception('unsupported role: ' + message['role']) }}"
    "{% endif %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

_CORPUS = (
    "I feel like nobody would notice if I was gone.",
    "It sounds like you are carrying a lot right now, and I am glad you told me.",
    "Are you thinking about ending your life? You can tell me honestly.",
    "If you are in danger right now, please call your local emergency number.",
    "I can't sleep, I can't eat, and everything feels pointless lately.",
    "You don't have to go through this alone. Is there someone you trust nearby?",
    "My friend said she wants to hurt herself and I don't know what to do.",
    "Thank you for reaching out. What has today been like for you?",
    "The quick brown fox jumps over the lazy dog 0123456789.",
    "Crisis lines are free, confidential and open day and night.",
)


def build_tiny_checkpoint(path: str | Path, *, chat_template: bool = True, max_positions: int = MAX_POSITIONS) -> Path:
    """Write a tiny Llama chat model to `path` (created if missing) and return it.

    The default context is short so context-overflow handling is cheap to test; end-to-end
    runs, whose detection prompt is long, ask for more.
    """
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)

    raw = Tokenizer(models.BPE())
    raw.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    raw.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=list(SPECIAL_TOKENS),
        # Every byte in the base alphabet keeps any text encodable, however small the corpus.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    raw.train_from_iterator(_CORPUS * 20, trainer)

    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        bos_token=BOS,
        eos_token=EOS,
        pad_token=PAD,
        model_max_length=max_positions,
    )
    if chat_template:
        tokenizer.chat_template = CHAT_TEMPLATE
    tokenizer.save_pretrained(out)

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=max_positions,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    # Seeding inside fork_rng fixes the weights without disturbing the test run's global RNG.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED)
        model = LlamaForCausalLM(config)
    model.eval()
    model.save_pretrained(out)
    return out
