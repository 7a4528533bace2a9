"""Greedy decoding that checks several guessed tokens a forward pass (prompt-lookup decoding), same answer.

A point answer is mostly fixed text: ``<points alt="yellow mug" coords="1 1 396 558">`` writes the format's own
words and the words of the question, and only the coordinates are new. At the tiny checkpoint's size a forward
pass costs about the same for one token as for eight (measured: 4-5 ms a step on 2 cores, almost all of it
per-layer overhead), so guessing the next tokens and checking them all in one pass cuts the number of passes.
The guesses come from a *reference*: the prompt's tokens and the Molmo2 point format's fixed strings; after the
last one or two tokens written, the tokens that followed the same tokens in the reference are the guess (as in
Saxena's prompt-lookup decoding and transformers' ``prompt_lookup_num_tokens``); a question's word the answer
writes without its leading space (``alt="yellow``) is found as the question's `` yellow``; after a coordinate
that no reference holds, the guess is the list's separator; and the point tag's opening is guessed in the
prompt's own pass (7 Dec: 8.7 passes a mean held-out answer, 10.1 without the last two). The model keeps every guessed
token that equals its own greedy choice and adds its choice after the first mismatch, so the text is the text
plain greedy decoding writes (``test/models/test_lookup_decoding.py`` checks it against ``generate``), up to
rounding: a pass over several tokens may round differently from one token at a time and so break a near tie
(in float32 on CPU, 344 of 344 held-out answers were the same; bfloat16 on a GPU was not checked).

Why not ``generate(prompt_lookup_num_tokens=...)``: transformers looks up in the prompt only (not in the
format's strings, where most of the gain is) and its per-step bookkeeping is itself ~1.7 ms of the 4-5 ms.
Imported only by the transformers backend (it imports torch).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping, Sequence
from typing import Any

import torch

from molmo_ros.models.stopping import token_texts

__all__ = [
    "FORMAT_STRINGS",
    "after_numbers",
    "draft",
    "eos_ids",
    "greedy_answer",
    "lookup_greedy",
    "plain_greedy",
    "reference_ids",
    "word_keys",
]

#: The fixed text of Molmo2's point answers (a single point, a list, a count, an absent object).
FORMAT_STRINGS = (
    '<points alt="',
    '" coords="1 1 ',
    '">',
    "</points>",
    "Counting the ",
    " shows a total of ",
    "There are none.",
)


#: Generation settings that change the scores greedy decoding picks from, with the values that leave them alone:
#: with any other value, the checkpoint's own ``generate`` answers (it applies them; this loop does not).
_NEUTRAL_SETTINGS = {
    "repetition_penalty": (None, 1.0),
    "no_repeat_ngram_size": (None, 0),
    "bad_words_ids": (None,),
    "suppress_tokens": (None,),
    "begin_suppress_tokens": (None,),
    "sequence_bias": (None,),
    "forced_bos_token_id": (None,),
    "forced_eos_token_id": (None,),
    "min_length": (None, 0),
    "min_new_tokens": (None, 0),
    "encoder_repetition_penalty": (None, 1.0),
}


def plain_greedy(generation_config: Any) -> bool:
    """Whether ``generate`` with this config, ``do_sample=False`` and one beam is plain argmax decoding."""
    return all(getattr(generation_config, k, None) in ok for k, ok in _NEUTRAL_SETTINGS.items())


def eos_ids(generation_config: Any) -> set[int]:
    """The ids that end an answer by the config (``eos_token_id``: an id, a list or None)."""
    eos = getattr(generation_config, "eos_token_id", None)
    if eos is None:
        return set()
    return {int(i) for i in (eos if isinstance(eos, list | tuple) else [eos])}


@functools.lru_cache(maxsize=4)
def _format_ids(tokenizer: Any) -> tuple[list[int], ...]:
    """The format strings' tokens, tokenised once per tokenizer."""
    return tuple(tokenizer(t, add_special_tokens=False)["input_ids"] for t in FORMAT_STRINGS)


def reference_ids(tokenizer: Any, prompt: str) -> list[list[int]]:
    """The token sequences guesses are looked up in: the prompt's, then each format string's."""
    return [tokenizer(prompt, add_special_tokens=False)["input_ids"], *_format_ids(tokenizer)]


@functools.lru_cache(maxsize=4)
def after_numbers(tokenizer: Any) -> dict[int, list[int]]:
    """The guess after a number token when no reference holds it: the separator of the coordinate list (a
    coordinate is followed by a space, or by the tag's end after the last one). Built once per tokenizer."""
    space = tokenizer(" ", add_special_tokens=False)["input_ids"]
    return {i: space for i, text in enumerate(token_texts(tokenizer)) if text.isdigit()}


@functools.lru_cache(maxsize=4)
def word_keys(tokenizer: Any) -> dict[int, str]:
    """Each word token's word without its leading space (`` yellow`` and ``yellow`` -> ``yellow``): the
    question has `` yellow mug`` where the answer's ``alt="yellow mug"`` starts without the space."""
    keys = {}
    for i, text in enumerate(token_texts(tokenizer)):
        word = text.strip()
        if word.isalpha():
            keys[i] = word
    return keys


def draft(
    written: Sequence[int],
    references: Sequence[Sequence[int]],
    max_tokens: int,
    fallback: Mapping[int, Sequence[int]] | None = None,
    words: Mapping[int, str] | None = None,
) -> list[int]:
    """Up to ``max_tokens`` guessed next tokens: what followed the last two (else the last one) of ``written``
    in the first reference that holds them; else what followed the first reference token of the same word as
    the last one (``words``: :func:`word_keys`); else ``fallback`` of the last token; else []."""
    for n in (2, 1):
        if len(written) < n:
            continue
        tail = list(written[-n:])
        for ref in references:
            for start in range(len(ref) - n):
                if list(ref[start : start + n]) == tail:
                    return list(ref[start + n : start + n + max_tokens])
    word = words.get(written[-1]) if written and words else None
    if word is not None:
        for ref in references:
            for start in range(len(ref) - 1):
                if words.get(ref[start]) == word:
                    return list(ref[start + 1 : start + 1 + max_tokens])
    if written and fallback:
        return list(fallback.get(written[-1], ()))[:max_tokens]
    return []


def _with_tokens(inputs: Mapping[str, Any], tokens: Sequence[int]) -> dict[str, Any]:
    """The processor's ``inputs`` (batch of one) with ``tokens`` appended as text after the prompt: the
    ids, a mask of ones and zeros for every other per-token tensor (``mm_token_type_ids``: 0 = text)."""
    ids = inputs["input_ids"]
    if not tokens:
        return dict(inputs)
    out = {}
    for key, value in inputs.items():
        if isinstance(value, torch.Tensor) and value.shape == ids.shape:
            fill = {"input_ids": list(tokens), "attention_mask": [1] * len(tokens)}.get(
                key, [0] * len(tokens)
            )
            value = torch.cat([value, value.new_tensor([fill])], dim=1)
        out[key] = value
    return out


def _kept(guess: Sequence[int], choices: Sequence[int], stop_ids: Collection[int]) -> int:
    """How many leading guesses the model's own choices confirm (no guess past a stop token is kept)."""
    kept = 0
    while kept < len(guess) and choices[kept] == guess[kept] and guess[kept] not in stop_ids:
        kept += 1
    return kept


@torch.inference_mode()
def lookup_greedy(
    model: Any,
    inputs: dict[str, torch.Tensor],
    references: Sequence[Sequence[int]],
    max_new_tokens: int,
    stop_ids: Collection[int],
    max_draft: int = 8,
    fallback: Mapping[int, Sequence[int]] | None = None,
    words: Mapping[int, str] | None = None,
    opening: Sequence[int] = (),
) -> tuple[list[int], int]:
    """Greedy answer of ``model`` (a transformers causal LM with a KV cache, batch of one) to ``inputs`` (the
    processor's output); stops after a token of ``stop_ids`` or ``max_new_tokens`` tokens. ``references``,
    ``fallback`` and ``words``: where guesses come from (:func:`draft`); ``opening``: the guess for the
    answer's first tokens, checked in the prompt's own pass. Returns (new token ids, forward passes run)."""
    guess = list(opening)[: max(0, max_new_tokens - 1)]
    out = model(**_with_tokens(inputs, guess), use_cache=True, logits_to_keep=len(guess) + 1)
    cache, passes, written = out.past_key_values, 1, []
    while True:
        choices = out.logits[0].argmax(-1).tolist()
        kept = _kept(guess, choices, stop_ids)
        written += [*guess[:kept], choices[kept]]
        if kept < len(guess):
            cache.crop(-(len(guess) - kept))  # drop the rejected guesses' keys and values
        if written[-1] in stop_ids or len(written) >= max_new_tokens:
            return written[:max_new_tokens], passes
        limit = min(max_draft, max_new_tokens - len(written) - 1)
        guess = draft(written, references, limit, fallback, words)
        step = torch.tensor([[written[-1], *guess]], dtype=torch.long, device=out.logits.device)
        out = model(input_ids=step, past_key_values=cache, use_cache=True)
        passes += 1


def greedy_answer(
    model: Any,
    inputs: dict[str, torch.Tensor],
    tokenizer: Any,
    prompt: str,
    max_new_tokens: int,
    stop_ids: Collection[int],
) -> tuple[list[int], int]:
    """:func:`lookup_greedy` with every guess source of a Molmo2 point answer: the prompt and the format's
    strings, a space after a coordinate, a question's word without its space, and the point tag's opening
    (``<points alt="``) guessed in the prompt's pass. Returns (new token ids, forward passes run)."""
    references = reference_ids(tokenizer, prompt)
    return lookup_greedy(
        model,
        inputs,
        references,
        max_new_tokens,
        stop_ids,
        fallback=after_numbers(tokenizer),
        words=word_keys(tokenizer),
        opening=_format_ids(tokenizer)[0],
    )
