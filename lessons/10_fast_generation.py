# %%
"""Lesson 10: Fast generation: the key/value cache, measured against recomputing everything.

Goal: see why writing a scratchpad token by token is slow when every step recomputes the whole
sequence, and how caching each layer's keys and values makes each step cost one token. Check that
the cached logits agree with a full forward pass, also for prompts of different lengths batched
with left padding, and measure the speed-up.

Read first: minipad/generate.py (KVCache, forward_step, generate, generate_by_recomputing), and in
minipad/nn/attention.py the KeyValueCache that attention_forward fills; lesson 4 for attention.

Time: about 10 seconds (--quick: about 3 seconds). Uses lesson 7's trained model if it is there
(runs/lessons/07_scratchpad/model.npz), otherwise a fresh model: the arithmetic is the same.

What you should see: cached and full logits agreeing to about 1e-6 (float32), the same greedy text
both ways, and generation with the cache many times faster, more so the longer the text.

Run:  python lessons/10_fast_generation.py [--quick] [--seed N] [--out runs/lessons]
"""
from _common import Lesson, parse_args, run  # first: the path to minipad and single-threaded BLAS

import os
import time

import numpy as np

from minipad.checkpoint import load_model
from minipad.data import prompt_text, sample_examples, split_rng
from minipad.generate import KVCache, forward_step, generate, generate_by_recomputing
from minipad.model import GPT, GPTConfig
from minipad.tasks import get_task



# %%
def main():
    args = parse_args(__doc__, with_out=True)
    rng = np.random.default_rng(args.seed)
    lesson = Lesson(10, "Fast generation: the key/value cache")
    addition = get_task("addition")
    tokenizer = addition.tokenizer()

    lesson.step("A model to decode with")
    checkpoint = os.path.join(args.out, "07_scratchpad", "model.npz")
    if os.path.exists(checkpoint):
        model, config, _, _ = load_model(checkpoint)
        print(f"  using lesson 7's trained model from {checkpoint} ({model.num_params():,} parameters)")
    else:
        model = GPT(GPTConfig(tokenizer.vocab_size, n_layer=2, n_head=4, n_embd=64, block_size=160, position="rope"), rng)
        print(f"  no trained model at {checkpoint}: a fresh one ({model.num_params():,} parameters); "
              f"its text is nonsense, its arithmetic is what we measure")
    lesson.say("""
        To write token t+1 the model needs every layer's attention over positions 0..t. Recomputing means
        running all t+1 positions through every layer again, for every new token: a text of T tokens costs
        about T^2 / 2 token-passes. But the keys and values of positions 0..t-1 never change once computed
        (causality, lesson 4). Keep them, and each step runs only the new token: T token-passes in all.
    """)

    lesson.step("Step by step with the cache")
    lesson.say("""
        The low-level API: KVCache holds every layer's keys and values; forward_step runs new tokens through
        the model, reading and extending the cache. It is GPT.forward itself: every block's attention gets
        its layer's cache (attention_forward's kv), writes the new keys and values into it, and lets the
        new queries attend to all of them; so cached decoding cannot drift from training's forward. Feed a prompt, then one token at a time, and compare
        each step's logits with a full forward pass over the whole sequence so far.
    """)
    example = sample_examples(addition, "test", 1, "scratchpad", split_rng(args.seed, "test"),
                               addition.make_options({"max_digits": 3}))[0]
    sequence = tokenizer.encode(prompt_text(example) + example.target)
    prompt_length = len(tokenizer.encode(prompt_text(example)))
    cache = KVCache(model, batch_size=1, max_length=len(sequence))
    logits = forward_step(model, np.array([sequence[:prompt_length]]), cache)
    full = model.forward(np.array([sequence]))
    worst = np.abs(logits[0] - full[0, :prompt_length]).max()
    for t in range(prompt_length, len(sequence)):
        step_logits = forward_step(model, np.array([[sequence[t]]]), cache)
        worst = max(worst, np.abs(step_logits[0, 0] - full[0, t]).max())
    scale = np.abs(full).max()
    print(f"  {len(sequence)} positions; largest difference from the full pass {worst:.1e} (logits up to {scale:.1f})")
    lesson.check(worst <= 1e-4 * max(1.0, scale), "cached logits equal the full forward pass (float32 rounding aside)")
    lesson.check(cache.length == len(sequence), "the cache holds one column per token fed")

    lesson.step("Prompts of different lengths in one batch")
    lesson.say("""
        Sums of different sizes have prompts of different lengths. generate() pads them on the left so all
        rows end in the same column, counts each row's positions from its own first token, and never lets
        a query see padding. So each row's logits must be those of the row alone:
    """)
    short, long = tokenizer.encode("7 + 5\n"), tokenizer.encode("4 8 3 7 + 5 9 6\n")
    cache = KVCache(model, batch_size=2, max_length=len(long), start=[len(long) - len(short), 0])
    padded = np.array([[0] * (len(long) - len(short)) + short, long])
    batched = forward_step(model, padded, cache)
    alone = model.forward(np.array([short]))[0]
    difference = np.abs(batched[0, len(long) - len(short):] - alone).max()
    print(f"  short prompt padded by {len(long) - len(short)}: "
          f"largest difference from decoding it alone {difference:.1e}")
    lesson.check(difference <= 1e-4 * max(1.0, np.abs(alone).max()), "padding changes nothing")

    lesson.step("Race: recompute everything versus the cache")
    n_prompts, lengths = (16, (20, 60)) if args.quick else (32, (30, 120))
    examples = sample_examples(addition, "test", n_prompts, "scratchpad", split_rng(args.seed + 1, "test"),
                               addition.make_options({"min_digits": 3, "max_digits": 3}))
    prompts = [tokenizer.encode(prompt_text(e)) for e in examples]
    lengths = tuple(min(n, model.config.block_size - len(prompts[0])) for n in lengths)
    lesson.say(f"""
        {n_prompts} prompts, sums of two 3-digit numbers (one prompt length, so both ways decode them as one
        batch), greedy, with no stop token: each row writes exactly the number of tokens asked for, whatever
        the model's quality, so the two ways do the same work. Twice: {lengths[0]} and {lengths[1]} new tokens.
        Timed in CPU time, which other programs running on the machine do not inflate as they do the
        wall-clock time.
    """)
    speedups = []
    for new_tokens in lengths:
        timings, outputs = {}, {}
        for name, decode in (("recompute", generate_by_recomputing), ("cache", generate)):
            started = time.process_time()   # CPU time: other programs on a shared machine do not count
            outputs[name] = decode(model, prompts, new_tokens, None)
            timings[name] = time.process_time() - started
        speedups.append(timings["recompute"] / timings["cache"])
        same = sum(a == b for a, b in zip(outputs["recompute"], outputs["cache"]))
        print(f"  {new_tokens:>4} new tokens: recompute {timings['recompute']:6.2f} s, "
              f"cache {timings['cache']:6.2f} s of CPU time, "
              f"speed-up {speedups[-1]:5.1f}x; identical text for {same} of {n_prompts} prompts")
        lesson.check(same >= n_prompts - 1, f"both ways write the same {new_tokens} tokens",
                     "a near tie between two logits can flip one argmax in float32; more than one is a bug")
    lesson.check(speedups[-1] > 1.5, "the cache is faster", f"only {speedups[-1]:.2f}x")
    lesson.check(speedups[1] > speedups[0], "and its lead grows with the length of the text")
    lesson.say("""
        Recomputing costs grow with the square of the length, the cache's linearly. Scratchpads are long
        texts; this is why evaluation (lessons 6 to 9) decodes with the cache.
    """)

    lesson.step("What the cache costs")
    config = model.config
    floats = 2 * config.n_layer * config.block_size * config.n_embd
    print(f"  keys and values: 2 x {config.n_layer} layers x {config.block_size} positions x {config.n_embd} "
          f"channels = {floats:,} floats per sequence ({floats * 4 / 1024:.0f} KiB in float32)")
    lesson.check(floats * 4 * 512 < 2**30, "a batch of 512 sequences fits in well under 1 GiB")

    lesson.finish([
        "Time both ways at 10, 30, 60 and 120 new tokens and plot the speed-up with minipad.plot.line_plot.",
        "Decode with generate(..., batch_size=1) and batch_size=512: how much do the NumPy calls per step cost?",
        "Break the cache on purpose: in KeyValueCache.append (minipad/nn/attention.py), skip writing the new "
        "keys. Which check of step 2 fails?",
        "Sample instead of taking the argmax (softmax of logits / temperature, then rng.choice): how often "
        "does a trained scratchpad model still get the sum right at temperature 0.5? At 1.0?",
    ])


# %%
if __name__ == "__main__":
    run(main)
