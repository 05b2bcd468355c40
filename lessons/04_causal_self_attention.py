# %%
"""Lesson 4: Causal self-attention: forward, backward, and the causal mask as a law you can test.

Goal: read multi-head causal attention as the textbook writes it (the package's reference form), derive
its backward pass, check it numerically and against the fast form the model runs, and turn "a position
never sees the future" into tests that would catch a leak.

Read first: minipad/nn/attention.py (attention_forward_reference and attention_backward_reference first,
then the fast form), minipad/nn/mask.py and minipad/nn/rope.py.

Time: about a second (--quick: the same, on smaller arrays).

What you should see: the reference attention equal to the fast one; attention rows that sum to 1 with zeros
above the diagonal; outputs (and a whole GPT's logits) that do not move when a later token changes; no
gradient flowing to the future; gradient checks around 1e-10; and rotary positions that make attention
depend on relative positions only.

Run:  python lessons/04_causal_self_attention.py [--quick] [--seed N]
"""
from _common import Lesson, parse_args, run  # first: the path to minipad and single-threaded BLAS

import functools
import math

import numpy as np

from minipad.gradcheck import check_layer, format_errors
from minipad.model import GPT, GPTConfig
from minipad.nn import (attention_backward, attention_backward_reference, attention_forward,
                        attention_forward_reference, attention_probabilities, causal_mask, rope_tables)

TOLERANCE = 1e-7


# %%
def main():
    args = parse_args(__doc__)
    rng = np.random.default_rng(args.seed)
    lesson = Lesson(4, "Causal self-attention")
    B, T, NH, HS = (2, 5, 2, 4) if args.quick else (2, 7, 3, 4)
    C = NH * HS

    lesson.step("Forward: every position takes a weighted average of the positions up to it")
    lesson.say(f"""
        A linear layer has made queries, keys and values side by side: qkv (B,T,3C). Each of the NH heads
        takes its (T,HS) slices q, k, v; position t scores every position s by q[t] . k[s] / sqrt(HS),
        the bias sets the scores of s > t to -inf, a softmax turns each row into weights, and y[t] is the
        weighted average of the values. attention_forward_reference is these lines; attention_forward,
        which the model runs, computes the same in blocks of query rows and skips the keys no query of a
        block may see. Here B={B}, T={T}, NH={NH}, HS={HS}.
    """)
    qkv = rng.standard_normal((B, T, 3 * C))
    plain, plain_cache = attention_forward_reference(qkv, NH)
    theirs, their_cache = attention_forward(qkv, NH)
    att = attention_probabilities(their_cache)
    print("  the causal bias for T = 4 (added to the scores):")
    for row in causal_mask(4, np.float64).bias:
        print("    " + " ".join(f"{b:5.0f}" for b in row))
    lesson.check(np.allclose(plain, theirs, rtol=0, atol=1e-12),
                 "the reference output equals the fast minipad.nn.attention_forward")
    lesson.check(np.allclose(plain_cache.att, att, rtol=0, atol=1e-12), "and so do the attention weights")
    print("  head 0's weights for the first sequence (row = query position, column = key position):")
    for row in att[0, 0]:
        print("    " + " ".join(f"{w:5.2f}" for w in row))
    lesson.check(np.allclose(att.sum(axis=-1), 1.0), "every row of weights sums to 1")
    lesson.check(np.all(att[..., np.triu_indices(T, k=1)[0], np.triu_indices(T, k=1)[1]] == 0.0),
                 "every weight above the diagonal is exactly 0")

    lesson.step("The causal mask as a law")
    lesson.say("""
        A model that peeks at the next token learns to copy it and looks brilliant in training, then fails
        when it must write that token itself. So the mask is a law, and a law is a test: change what comes
        after position t and nothing at or before t may change.
    """)
    t = T // 2
    changed = qkv.copy()
    changed[:, t + 1:] = rng.standard_normal(changed[:, t + 1:].shape)
    out_changed, _ = attention_forward(changed, NH)
    lesson.check(np.array_equal(out_changed[:, :t + 1], theirs[:, :t + 1]),
                 f"new queries, keys and values after position {t} leave outputs 0..{t} bit for bit the same")
    lesson.check(not np.allclose(out_changed[:, t + 1:], theirs[:, t + 1:]), "while later outputs do change")
    model = GPT(GPTConfig(vocab_size=20, n_layer=2, n_head=2, n_embd=8, block_size=16, position="rope"), rng)
    ids = rng.integers(0, 20, (2, 10))
    logits = model.forward(ids)
    ids_changed = ids.copy()
    ids_changed[:, 6] = (ids[:, 6] + 1) % 20
    logits_changed = model.forward(ids_changed)
    lesson.check(np.array_equal(logits[:, :6], logits_changed[:, :6])
                 and not np.allclose(logits[:, 6:], logits_changed[:, 6:]),
                 "the same law for a whole GPT: changing token 6 moves the logits at 6 and after, never before")

    lesson.step("Backward, derived line by line")
    lesson.say("""
        Reverse each forward line: y = att @ v gives dv = att^T @ dy and datt = dy @ v^T; the softmax gives
        dscores = att * (datt - rowsum(att * datt)) (softmax_backward); the scores give
        dq = dscores @ k / sqrt(HS) and dk = dscores^T @ q / sqrt(HS). The mask needs no line of its own:
        att is 0 where a key is hidden, so dscores is 0 there too. The cache is q, k, v and att: every
        product above needs them. Read it in attention_backward_reference.
    """)
    upstream = rng.standard_normal((B, T, C))
    plain_dqkv, _ = attention_backward_reference(upstream, plain_cache)
    their_dqkv, _ = attention_backward(upstream, their_cache)
    lesson.check(np.allclose(plain_dqkv, their_dqkv, rtol=0, atol=1e-12),
                 "the reference dqkv equals the fast minipad.nn.attention_backward's")
    errors = {"reference": check_layer(functools.partial(attention_forward_reference, n_head=NH),
                                       attention_backward_reference, {"qkv": qkv}, {}, rng)["qkv"],
              "fast": check_layer(functools.partial(attention_forward, n_head=NH), attention_backward,
                                  {"qkv": qkv}, {}, rng)["qkv"]}
    lesson.show(format_errors(errors, TOLERANCE))
    lesson.check(max(errors.values()) < TOLERANCE, "both pass the gradient check")
    lesson.say("""
        The fast form computes the same thing faster: it never divides the (T,T) weights but the (T,HS)
        result, gets rowsum(att * datt) from the small tensors (read the docstring of its backward), and
        never computes the scores above the diagonal of a block of queries.
    """)

    lesson.step("No gradient flows to the future")
    only_t = np.zeros((B, T, C))
    only_t[:, t] = rng.standard_normal((B, C))
    dqkv, _ = attention_backward(only_t, their_cache)
    lesson.check(np.all(dqkv[:, t + 1:] == 0.0) and np.any(dqkv[:, :t + 1] != 0.0),
                 f"a loss on output {t} alone sends gradient to positions 0..{t} and nothing to later ones")

    lesson.step("Rotary positions: attention sees distances, not places")
    lesson.say("""
        Attention alone knows nothing of order: a position is told by rotating its q and k by an angle
        proportional to the position (RoPE, minipad/nn/rope.py). Two rotations meet in the score as one
        rotation by their difference, so shifting every position by the same amount must change nothing.
    """)
    positions = np.arange(T)
    _, cache_at_0 = attention_forward(qkv.copy(), NH, rope_tables(positions, HS, np.float64))
    _, cache_at_40 = attention_forward(qkv.copy(), NH, rope_tables(positions + 40, HS, np.float64))
    difference = np.abs(attention_probabilities(cache_at_0) - attention_probabilities(cache_at_40)).max()
    print(f"  largest change of a weight when every position moves by 40: {difference:.1e}")
    lesson.check(difference < 1e-10, "with RoPE the weights depend on relative positions only")
    lesson.check(not np.allclose(attention_probabilities(cache_at_0), att), "yet they do depend on positions")
    rope = rope_tables(positions, HS, np.float64)
    error = check_layer(lambda x: attention_forward(x, NH, rope), attention_backward, {"qkv": qkv}, {}, rng)["qkv"]
    print(f"  gradient check of attention with RoPE: {error:.1e}")
    lesson.check(error < TOLERANCE, "the rotation's backward passes the gradient check")

    lesson.finish([
        "Copy attention_forward_reference into this file and drop the bias (+ bias): which checks fail, and why "
        "would the training loss fall faster than it should?",
        "Forget the 1 / sqrt(HS): for HS = 64 and random q, k of unit variance, print the largest weight "
        "of each row. What does an almost one-hot softmax do to the gradient?",
        "Time attention_forward_reference against attention_forward at T = 300: how much do the blocks of "
        "query rows save, and how does minipad.nn.mask.QUERY_BLOCK change it?",
        "Build GPTConfig(position='none') and test causality and the shift law: which one still holds?",
    ])


# %%
if __name__ == "__main__":
    run(main)
