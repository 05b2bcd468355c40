"""Text <-> token ids. Each task says which tokenizer it wants (``Task.tokenizer()``, minipad/tasks/base.py).

A vocabulary is
  * two special tokens: ``<pad>`` (id 0, fills short rows of a batch, never trained on) and
    ``<eos>`` (id 1, end of text: the model writes it when its answer is complete);
  * the task's structural tokens: strings that its format repeats on every line, each one token
    (for the arithmetic tasks ``<scratch>``, `` + ``, `` C: ``, ``total: ``, ``*x**``, ...);
  * every printable ASCII character and the newline, one token each: so each digit is one token.

A checkpoint stores the vocabulary it was trained with, token by token, and is only loaded with the
same one.

Encoding is greedy: at each position the longest vocabulary string that matches is taken.

Spaced digits. The paper writes additions with a space between digits (``2 9 + 5 7``) only so that its
BPE tokenizer sees one digit per token. Here a digit is always one token, so those spaces need not cost
a token: a tokenizer made with ``spaced_digits=True`` drops every space that stands between two digits
when it encodes, and puts one back between every two adjacent digits when it decodes. Decoding thus
gives the paper's text back, byte for byte:

    "2 9 + 5 7"  -> tokens  2 | 9 | " + " | 5 | 7   -> "2 9 + 5 7"

Text for such a tokenizer must not hold two adjacent digits without a space (they could not come back
apart), and encoding says so. Tasks whose numbers are written normally (polynomials: ``-10*x**2``) use
``spaced_digits=False``: same vocabulary, no space handling.
"""
from __future__ import annotations

import re

PAD = "<pad>"
EOS = "<eos>"
PAD_ID = 0
EOS_ID = 1

CHARACTER_TOKENS = tuple(chr(code) for code in range(32, 127)) + ("\n",)

_SPACE_BETWEEN_DIGITS = re.compile(r"(?<=[0-9]) (?=[0-9])")
_ADJACENT_DIGITS = re.compile(r"(?<=[0-9])(?=[0-9])")


def build_vocabulary(structural_tokens) -> tuple[str, ...]:
    """``<pad>``, ``<eos>``, the structural tokens in the order given, then the characters."""
    structural_tokens = tuple(structural_tokens)
    for token in structural_tokens:
        if not isinstance(token, str) or len(token) < 2 or token in (PAD, EOS):
            raise ValueError(f"structural token {token!r} must be a string of two or more characters "
                             f"(single characters are tokens already)")
    if len(set(structural_tokens)) != len(structural_tokens):
        raise ValueError("structural tokens must not repeat")
    return (PAD, EOS) + structural_tokens + CHARACTER_TOKENS


class Tokenizer:
    """Encodes text to token ids and back.

    structural_tokens: the multi-character strings that are one token each (the task's, see
    ``Task.structural_tokens``); spaced_digits: see the module docstring.
    """

    def __init__(self, *, structural_tokens, spaced_digits: bool = False):
        self.spaced_digits = spaced_digits
        self.vocabulary = build_vocabulary(structural_tokens)
        self.token_to_id = {token: index for index, token in enumerate(self.vocabulary)}
        self.pad_id = PAD_ID
        self.eos_id = EOS_ID
        # Longest strings first, so the alternation takes the longest match; "." (with DOTALL) takes any
        # single character, so a character outside the vocabulary still comes out and is reported by name.
        longest_first = sorted(structural_tokens, key=len, reverse=True)
        self._pieces = re.compile("|".join(re.escape(token) for token in longest_first) + "|.", re.DOTALL)

    @property
    def vocab_size(self) -> int:
        return len(self.vocabulary)

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (no end-of-text token is added). Raises ValueError naming a character
        that is not in the vocabulary."""
        if self.spaced_digits:
            if _ADJACENT_DIGITS.search(text):
                position = _ADJACENT_DIGITS.search(text).start()
                raise ValueError(
                    f"digits must be separated by spaces in this format, "
                    f"found {text[position - 1:position + 1]!r} at position {position - 1}"
                )
            text = _SPACE_BETWEEN_DIGITS.sub("", text)
        ids = []
        for piece in self._pieces.findall(text):
            token_id = self.token_to_id.get(piece)
            if token_id is None:
                raise ValueError(f"character {piece!r} (U+{ord(piece):04X}) is not in the vocabulary")
            ids.append(token_id)
        return ids

    def decode(self, ids) -> str:
        """Text of the token ids; padding and end-of-text tokens are left out."""
        text = "".join(self.vocabulary[int(i)] for i in ids if int(i) not in (PAD_ID, EOS_ID))
        if self.spaced_digits:
            text = _ADJACENT_DIGITS.sub(" ", text)
        return text
