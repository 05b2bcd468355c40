"""Where each token of an addition scratchpad sits: its digit place, its step line and its slot.

A model that writes the paper's scratchpad mostly *copies*: each step line repeats the digits still to add
from the line above, minus the last one, and the result digits found so far. With plain positions the
copy source of a digit lies one line-length back, and a line of a 9-digit sum is longer than any line a
model trained on 1-8 digits ever saw: the distance means nothing to it. Reading the text as a table
instead removes that wall:

  * place: a digit's place in its number, counted from the units digit (1 = units, 2 = tens, ...) and
    kept on every line: the 3 of 123 has place 3 in the input and on every step line that still holds it.
    A result digit's place is the column it was computed for; the carry after step k goes to place k + 1.
  * line:  0 for the prompt and the ``<scratch>`` line, then one per step line, the final carry line,
    and the answer (with ``</scratch>`` before it).
  * role:  which part a token is in: first or second operand, result, carry, the final carry line, the
    answer (0: anything else). The final line's digits sit in the result's slots (they copy it), so
    only their role tells the model it is writing the last line, which ends after the units digit.
  * slot:  a column inside the line. Each field (first operand, second operand, result, carry) owns
    FIELD_WIDTH slots, and a digit of place p sits at slot ``field * FIELD_WIDTH + FIELD_WIDTH - 1 - p``.
    A separator sits where a digit one place lower would (`` + `` after the first operand's last digit).

So the tens digit of the first operand has the same slot on every line, at every length: the distance
between a digit and the digit it copies (``LINE_STRIDE`` slots per line) is the same for a 3-digit and a
12-digit sum. ``minipad/positions.py`` turns (line, slot) into coupled rotary positions and feeds places
to a place embedding.

The reader sees one token at a time and uses only what came before it (the prompt says how long each
operand is), so decoding computes the layout of the text written so far exactly as training computed it
from the whole target. It never raises: whatever a model writes gets some spot.

    layout of "2 9 + 5 7\\n<scratch>\\n2 9 + 5 7 ,  C: 0\\n..." (spaces between digits are not tokens):
    token   2   9   +   5   7   \\n  <scratch> \\n  2   9   +   5   7   ,   C:  0   \\n ...
    place   2   1   0   2   1   0   0         0   2   1   0   2   1   0   0   1   0
    line    0   0   0   0   0   0   0         0   1   1   1   1   1   1   1   1   1
"""
from __future__ import annotations

from .base import SCRATCH_CLOSE, SCRATCH_OPEN, LayoutReader, TokenSpot

FIELD_WIDTH = 32                     # slots per field: room for places 0..31 (30-digit operands)
FIRST, SECOND, RESULT, CARRY, OTHER = range(5)
LINE_STRIDE = 5 * FIELD_WIDTH        # slots per line: five fields
# roles (TokenSpot.role): the four fields, then the final carry line and the answer; 0 for the rest
ROLE_OF_FIELD = {FIRST: 1, SECOND: 2, RESULT: 3, CARRY: 4, OTHER: 0}
FINAL_ROLE, ANSWER_ROLE = 5, 6
ROLES = 7
DIGITS = frozenset("0123456789")


def slot_of(field: int, place: int) -> int:
    """The slot of a digit of ``place`` in ``field`` (places beyond the field's width share its last slot)."""
    place = min(max(place, 0), FIELD_WIDTH - 1)
    return field * FIELD_WIDTH + FIELD_WIDTH - 1 - place


class AdditionLayout(LayoutReader):
    """Reads ``a + b\\n`` then a scratchpad (or a direct answer), token by token."""

    line_stride = LINE_STRIDE
    roles = ROLES

    def __init__(self, first_digits: int, second_digits: int, scratchpad: bool):
        self.lengths = (first_digits, second_digits)
        self.longest = max(first_digits, second_digits)   # N: the number of column steps
        self.scratchpad = scratchpad
        self.line = 0              # the layout line of the next token
        self.newlines = 0          # newlines read so far
        self.field = FIRST         # the field the next token belongs to
        self.index = 0             # digits read so far in the current field
        self.other_slot = 0        # next slot for tokens outside the fields (<scratch>, </scratch>)
        self.final_digits = []     # the digits of the final carry line, to know the answer's length

    @classmethod
    def for_input(cls, input_text: str, scratchpad: bool) -> "AdditionLayout":
        """The reader for the prompt ``input_text`` ('1 2 3 + 4 5'); operand lengths count its digits."""
        first, _, second = input_text.partition(" + ")
        return cls(sum(c in DIGITS for c in first), sum(c in DIGITS for c in second), scratchpad)

    # -- which part of the text the next token is in ------------------------------------------------------
    def _part(self) -> str:
        """'input', 'open' (<scratch>), 'step', 'final', 'close' (</scratch>), 'answer' or 'after'."""
        if not self.scratchpad:
            return {0: "input", 1: "answer"}.get(self.newlines, "after")
        steps = self.longest + 1   # step lines k = 0..N
        if self.newlines == 0:
            return "input"
        if self.newlines == 1:
            return "open"
        if self.newlines < 2 + steps:
            return "step"
        return {2 + steps: "final", 3 + steps: "close", 4 + steps: "answer"}.get(self.newlines, "after")

    def read(self, token: str) -> TokenSpot:
        part = self._part()
        if part == "input":
            spot = self._read_field(token, step=0, separators={" + ": SECOND})
        elif part == "step":
            k = self.newlines - 2   # column steps done before this line
            spot = self._read_field(token, step=k, separators={" + ": SECOND, " , ": RESULT, ", ": RESULT,
                                                               " C: ": CARRY})
        elif part in ("final", "answer"):
            spot = self._read_number(token, part)
        else:   # <scratch>, </scratch>, and anything written after the answer
            spot = TokenSpot(0, self.line, slot_of(OTHER, FIELD_WIDTH - 1 - self.other_slot), 0)
            self.other_slot += 1
        if token == "\n":
            self._next_line(part)
        return spot

    def _read_field(self, token: str, step: int, separators: dict) -> TokenSpot:
        """A token of the input line or of step line ``step``: a digit gets its place, a separator sits one
        place below the field's last digit and opens the next field."""
        field = self.field
        if token in DIGITS:
            if field in (FIRST, SECOND):
                place = self.lengths[field] - self.index        # the operand's digits left, first to last
            elif field == RESULT:
                place = step - self.index                       # the step result digits found so far
            else:
                place = step + 1                                # the carry into the next column
            self.index += 1
            return TokenSpot(max(place, 0), self.line, slot_of(field, place), ROLE_OF_FIELD[field])
        # a separator (or anything else) closes the current field
        lowest = {FIRST: step, SECOND: step, RESULT: 0, CARRY: step}.get(field, 0)
        spot = TokenSpot(0, self.line, slot_of(field, lowest), ROLE_OF_FIELD.get(field, 0))
        if token in separators:
            self.field, self.index = separators[token], 0
        return spot

    def _read_number(self, token: str, part: str) -> TokenSpot:
        """The final line (carry then result digits, places N+1..1) or the answer (its own length)."""
        if part == "final":
            count = self.longest + 1
            if token in DIGITS:
                self.final_digits.append(token)
        else:
            if not self.scratchpad:
                count = 0   # a direct answer's length is not known before it is written: no places
            else:
                written = "".join(self.final_digits).lstrip("0") or "0"
                count = len(written)
        role = FINAL_ROLE if part == "final" else ANSWER_ROLE
        if token in DIGITS:
            place = count - self.index if count else 0
            slot = slot_of(RESULT, place) if count else RESULT * FIELD_WIDTH + self.index
            self.index += 1
            return TokenSpot(max(place, 0), self.line, slot, role)
        return TokenSpot(0, self.line, slot_of(RESULT, 0) if count else RESULT * FIELD_WIDTH + self.index, role)

    def _next_line(self, part: str) -> None:
        self.newlines += 1
        self.field, self.index, self.other_slot = FIRST, 0, 0
        following = self._part()
        # the <scratch> line belongs to the prompt's line; </scratch> belongs to the answer's line
        if following not in ("open", "answer"):
            self.line += 1
