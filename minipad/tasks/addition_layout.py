"""Where each token of an addition scratchpad sits: a table of columns that is the same for sums of any size.

A model that writes the paper's scratchpad mostly *copies*: each step line repeats the digits still to add
from the line above, minus the last one, and the result digits found so far; the one new result digit
and the carry come from three digits of the line above. With plain positions the source of a copy lies
one line-length back, and a line of a 9-digit sum is longer than any line a model trained on 1-8 digits
saw: that distance means nothing to it. So we read the text as a table instead.

Columns. Every digit belongs to a column of the sum, counted from the units (1 = units, 2 = tens, ...),
and keeps it on every line: the 3 of 123 is in column 3 in the input and on each step line that still
holds it. The result digit written on step line k is column k; the carry after step k goes to column
k + 1. Each line has four fields (first operand, second operand, result, carry) of FIELD_WIDTH slots;
column c of field f is slot ``f * FIELD_WIDTH + FIELD_WIDTH - 1 - c``, and a line adds LINE_STRIDE.

The rule. A model at token t predicts token t + 1, so what decides how far back it must look is where
token t sits. Here every token sits one column above the natural spot of the token that FOLLOWS it:

    a digit of column c, followed by column c - 1 of its field:   it sits at its own column c
    " + " (followed by the second operand's top digit, column B):  column B + 1 of the second field
    " , " (followed by the new result digit, column k):            column k + 1 of the result field
    "\\n" ending a line (followed by the next line's first token):  one column above it, on the next line

Two exceptions stay at their own spot, column 0 of the result: `` C: `` and the newline that ends the
final line. They mark where a result ends: the units digit of the next line (or of the answer) finds
them one line up at the distance it copies from, and its role says which end it is (`` C: `` after a
step's result, a newline after the final line, the end of text after the answer). The carry that
follows `` C: `` comes from the column just added, which the `` , `` of the same line has read.

So whatever is written next, its sources (the same column of the line above, or column k of the two
operands and the carry for a new digit) are always at the same distance from the token that writes
it: the distances a model learns on 3-digit sums are the ones a 12-digit sum needs. The layout of a
sum's text depends only on the operands' digit counts (and, for the answer, on the final carry), so the
reader plans it from the prompt and then hands out spots one token at a time, in decoding exactly as in
training.

Besides its slot, each token gets:
  * place: a digit's column (0 for other tokens), for the digit-place embedding;
  * line:  0 for the prompt and ``<scratch>``; then one per step line, the final carry line, and the
    answer (``</scratch>`` with it). A newline belongs to the line it opens;
  * role:  which part the next token belongs to (first operand, second operand, result, carry, the final
    line, the answer; 0 for anything else). The final line's digits sit in the result's slots (they copy
    it), so only their role tells the model that this line ends after its units digit.

    2 9 + 5 7 \\n <scratch> \\n  2 9 + 5 7 ,  C: 0 \\n  2 + 5 , 6 C: 1 \\n  , 8 6 C: 0 \\n  0 8 6 \\n ...
    place:  2 1 0 2 1 0 0 0    2 1 0 2 1 0 0 1 0    2 0 2 0 1 0 2 0    0 2 1 0 3 0    3 2 1 0
"""
from __future__ import annotations

import functools
from typing import NamedTuple

from .base import LayoutReader, TokenSpot

FIELD_WIDTH = 40                     # slots per field: columns 0..39 (30-digit operands need 32)
FIRST, SECOND, RESULT, CARRY, OTHER = range(5)
LINE_STRIDE = 5 * FIELD_WIDTH        # slots per line: five fields
# roles (TokenSpot.role): the four fields, the final carry line and the answer; 0 for the rest
ROLE_OF_FIELD = {FIRST: 1, SECOND: 2, RESULT: 3, CARRY: 4, OTHER: 0}
FINAL_ROLE, ANSWER_ROLE = 5, 6
ROLES = 7
DIGITS = frozenset("0123456789")


def slot_of(field: int, column: int) -> int:
    """The slot of ``column`` in ``field`` (columns beyond the field's width share its last slot)."""
    column = min(max(column, 0), FIELD_WIDTH - 1)
    return field * FIELD_WIDTH + FIELD_WIDTH - 1 - column


class Spot(NamedTuple):
    """The natural spot of one token of the planned text: its line, field and column; a digit's place;
    the role of its field (by default that of the field; the final line and the answer have their own)."""
    line: int
    field: int
    column: int
    place: int = 0       # the column for a digit, 0 for any other token
    role: int | None = None
    stays: bool = False  # sits at its own spot, not above the next token's (see "Two exceptions")

    def role_id(self) -> int:
        return ROLE_OF_FIELD[self.field] if self.role is None else self.role


@functools.lru_cache(maxsize=1024)
def plan_scratchpad(first_digits: int, second_digits: int) -> tuple[Spot, ...]:
    """The natural spots of every token of ``a + b\\n<scratch>\\n`` and the step lines and final line,
    for operands of these digit counts (the answer's spots follow once its own is known)."""
    A, B = first_digits, second_digits
    N = max(A, B)
    role = ROLE_OF_FIELD
    plan = [Spot(0, FIRST, c, c, role[FIRST]) for c in range(A, 0, -1)]
    plan.append(Spot(0, FIRST, 0))                                        # " + "
    plan += [Spot(0, SECOND, c, c, role[SECOND]) for c in range(B, 0, -1)]
    plan += [Spot(0, SECOND, 0), Spot(0, OTHER, 2), Spot(0, OTHER, 1)]    # "\n", "<scratch>", "\n"
    for k in range(N + 1):                                                # step line k: k columns added
        line = k + 1
        first = [Spot(line, FIRST, c, c, role[FIRST]) for c in range(A, k, -1)]
        second = [Spot(line, SECOND, c, c, role[SECOND]) for c in range(B, k, -1)]
        if first or second:
            plan += first + [Spot(line, FIRST, k)] + second + [Spot(line, SECOND, k)]   # a + b ,
        else:
            plan.append(Spot(line, SECOND, k))                                          # ,
        plan += [Spot(line, RESULT, c, c, role[RESULT]) for c in range(k, 0, -1)]
        plan += [Spot(line, RESULT, 0, stays=True), Spot(line, CARRY, k + 1, k + 1, role[CARRY]),  # C: carry
                 Spot(line, CARRY, k)]                                                  # "\n"
    final = N + 2
    plan += [Spot(final, RESULT, c, c, FINAL_ROLE) for c in range(N + 1, 0, -1)]
    plan.append(Spot(final, RESULT, 0, 0, FINAL_ROLE, stays=True))         # "\n"
    return tuple(plan)


def plan_answer(line: int, answer_digits: int) -> list[Spot]:
    """``</scratch>\\n`` then the answer's digits and the end of text, on the answer's line."""
    return ([Spot(line, OTHER, 2, 0, ANSWER_ROLE), Spot(line, OTHER, 1, 0, ANSWER_ROLE)]
            + [Spot(line, RESULT, c, c, ANSWER_ROLE) for c in range(answer_digits, 0, -1)]
            + [Spot(line, RESULT, 0, 0, ANSWER_ROLE)])


def plan_direct(first_digits: int, second_digits: int) -> list[Spot]:
    """The input line, then the answer as if it had one digit more than the longer operand (a direct
    answer's digit count is not known before it is written, so its columns are a guess)."""
    A, B = first_digits, second_digits
    plan = [Spot(0, FIRST, c, c, ROLE_OF_FIELD[FIRST]) for c in range(A, 0, -1)] + [Spot(0, FIRST, 0)]
    plan += [Spot(0, SECOND, c, c, ROLE_OF_FIELD[SECOND]) for c in range(B, 0, -1)] + [Spot(0, SECOND, 0)]
    longest = max(A, B) + 1
    return plan + [Spot(1, RESULT, c, 0, ANSWER_ROLE) for c in range(longest, 0, -1)] + [Spot(1, RESULT, 0, 0,
                                                                                             ANSWER_ROLE)]


class AdditionLayout(LayoutReader):
    """Hands out the spot of each token of one sum's sequence, in order (see the module docstring)."""

    line_stride = LINE_STRIDE
    roles = ROLES

    def __init__(self, first_digits: int, second_digits: int, scratchpad: bool):
        self.digit_counts = (first_digits, second_digits)
        self.longest = max(first_digits, second_digits)
        self.scratchpad = scratchpad
        self.plan = list((plan_scratchpad if scratchpad else plan_direct)(first_digits, second_digits))
        self.final_carry_index = len(self.plan) - self.longest - 2 if scratchpad else None
        self.read_count = 0

    @classmethod
    def for_input(cls, input_text: str, scratchpad: bool) -> "AdditionLayout":
        """The reader for the prompt ``input_text`` ('1 2 3 + 4 5'), whose digits it counts."""
        first, _, second = input_text.partition(" + ")
        return cls(sum(c in DIGITS for c in first), sum(c in DIGITS for c in second), scratchpad)

    def read(self, token: str) -> TokenSpot:
        index = self.read_count
        self.read_count += 1
        if index == self.final_carry_index:
            # the final carry decides the answer's digit count: the final line without its leading zero
            answer_digits = self.longest + (1 if token in DIGITS and token != "0" else 0)
            self.plan += plan_answer(self.plan[-1].line + 1, answer_digits)
        own = self.plan[index] if index < len(self.plan) else None
        following = self.plan[index + 1] if index + 1 < len(self.plan) else None
        if following is None:   # past the planned text: anything more sits in the last line's spare slots
            line = self.plan[-1].line
            return TokenSpot(0, line, slot_of(OTHER, FIELD_WIDTH - 1 - min(index - len(self.plan), 30)))
        place = own.place if own is not None and token in DIGITS else 0
        if own is not None and own.stays:
            return TokenSpot(place, own.line, slot_of(own.field, own.column), own.role_id())
        return TokenSpot(place, following.line, slot_of(following.field, following.column + 1),
                         following.role_id())

    def read_all(self, tokens: list[str]) -> list[TokenSpot]:
        """The spots of a whole sequence read from the start, as ``read`` one by one gives them.

        Training reads whole gold texts, whose spots depend only on the operands' digit counts and on whether
        the final carry is 0: those are worked out once and remembered (a training step reads 32 texts)."""
        fresh = self.read_count == 0 and self.scratchpad and len(tokens) > self.final_carry_index
        if fresh:
            carry = tokens[self.final_carry_index]
            spots, digit_pattern, plan = _gold_spots(*self.digit_counts, carry in DIGITS and carry != "0")
            if len(tokens) <= len(spots) and tuple(token in DIGITS for token in tokens) == digit_pattern[:len(tokens)]:
                self.plan, self.read_count = list(plan), len(tokens)
                return list(spots[:len(tokens)])
        return [self.read(token) for token in tokens]


@functools.lru_cache(maxsize=4096)
def _gold_spots(first_digits: int, second_digits: int, carry_out: bool):
    """(spots, which tokens are digits, full plan) of a gold scratchpad with operands of these digit counts."""
    reader = AdditionLayout(first_digits, second_digits, scratchpad=True)
    spots, pattern, index = [], [], 0
    while index < len(reader.plan):
        if index == reader.final_carry_index:
            token = "1" if carry_out else "0"
        else:
            token = "5" if reader.plan[index].place else " , "
        spots.append(reader.read(token))
        pattern.append(token in DIGITS)
        index += 1
    return tuple(spots), tuple(pattern), tuple(reader.plan)
