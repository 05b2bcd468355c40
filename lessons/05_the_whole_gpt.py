# %%
"""Lesson 5: The whole GPT: count its parameters, check every gradient, overfit one batch.

Goal: put the layers of lessons 2 to 4 together. Count the parameters by hand and match the package;
check every parameter's gradient of the whole model against central differences; then train on one
small batch of scratchpads until the model writes them back word for word, the classic first test
that forward, backward and optimizer fit together.

Read first: minipad/model.py (GPT.forward, GPT.loss_and_grads), minipad/nn/block.py, minipad/optim.py.

Time: about 5 seconds (--quick: about 3 seconds).

What you should see: a parameter count that matches the formula; every gradient within 1e-7 of the
numerical one, with learned and with rotary positions; a first loss of about log V = 4.71; and the
loss on one batch falling to near zero, after which the model writes each memorised scratchpad.

Run:  python lessons/05_the_whole_gpt.py [--quick] [--seed N]
"""
from _common import Lesson, parse_args, run  # first: the path to minipad and single-threaded BLAS

import time

import numpy as np

from minipad.data import make_batch, prompt_text, sample_examples, split_rng
from minipad.generate import generate_by_recomputing
from minipad.gradcheck import check_model, format_errors
from minipad.model import GPT, GPTConfig
from minipad.optim import AdamW, clip_grad_norm, lr_at
from minipad.tasks import get_task

TOLERANCE = 1e-7


# %%
def count_by_hand(V, C, n_layer, block_size, learned_positions, tied):
    """Parameters of the GPT-2 shape, term by term."""
    per_block = (2 * C              # ln1 gain and bias
                 + C * 3 * C + 3 * C   # qkv weight and bias
                 + C * C + C           # attention output projection
                 + 2 * C               # ln2
                 + C * 4 * C + 4 * C   # MLP widening
                 + 4 * C * C + C)      # MLP projection back
    return (V * C                                        # token embedding (and the tied head)
            + (block_size * C if learned_positions else 0)
            + n_layer * per_block                        # = n_layer * (12 C^2 + 13 C)
            + 2 * C                                      # final LayerNorm
            + (0 if tied else V * C))


# %%
def main():
    args = parse_args(__doc__)
    rng = np.random.default_rng(args.seed)
    lesson = Lesson(5, "The whole GPT")
    V = get_task("addition").tokenizer().vocab_size

    lesson.step("Count the parameters")
    lesson.say("""
        Each block holds two LayerNorms (2C each), the qkv projection (C x 3C and 3C), the output projection
        (C x C and C), and the MLP (C x 4C and 4C, then 4C x C and C): 12 C^2 + 13 C. Add the token
        embedding V x C, which the head reuses (tied weights), learned positions if any, and the final
        LayerNorm. Where the parameters sit, for the model the later lessons train:
    """)
    for position, tied in (("rope", True), ("learned", True), ("learned", False)):
        config = GPTConfig(V, n_layer=2, n_head=4, n_embd=64, block_size=320, position=position, tie_weights=tied)
        model = GPT(config, rng)
        expected = count_by_hand(V, 64, 2, 320, position == "learned", tied)
        print(f"  position={position:<8} tied={tied!s:<5}: formula {expected:,}, model.num_params() "
              f"{model.num_params():,}")
        lesson.check(expected == model.num_params(), f"the formula matches ({position}, tied={tied})")
    model = GPT(GPTConfig(V, n_layer=2, n_head=4, n_embd=64, block_size=320, position="rope"), rng)
    groups = {}
    for name, array in model.params.items():
        group = name.split(".")[0] if not name.startswith("h.") else ".".join(name.split(".")[2:4])
        groups[group] = groups.get(group, 0) + array.size
    for group, size in sorted(groups.items(), key=lambda item: -item[1]):
        print(f"    {group:<12} {size:>7,}  {'#' * round(40 * size / model.num_params())}")

    lesson.step("Check every gradient of the whole model")
    lesson.say("""
        minipad.gradcheck.check_model nudges parameter entries one at a time, recomputes the loss, and
        compares the slope with loss_and_grads. It needs a float64 model; a small one keeps it quick.
        The loss mask counts only some positions, as in training.
    """)
    entries = 6 if args.quick else 25
    config = GPTConfig(V, n_layer=2, n_head=2, n_embd=8, block_size=12, position="rope", dtype="float64")
    small = GPT(config, rng)
    ids = rng.integers(0, V, (2, 9))
    targets = rng.integers(0, V, (2, 9))
    mask = (rng.random((2, 9)) < 0.6).astype(np.float64)
    errors = check_model(small, ids, targets, mask, rng, max_entries=entries)
    worst = max(errors, key=errors.get)
    print(f"  at initialisation: worst relative error {errors[worst]:.1e} ({worst})")
    lesson.say("""
        Far above 1e-9, yet nothing is wrong. At initialisation the weights are tiny (std 0.02): attention
        is almost uniform and many gradients are near zero, so the numerical side's rounding weighs more
        against them. A check is sharper away from that special point: give every parameter a random
        push first. (Training moves the weights there anyway.)
    """)
    for position in ("learned", "rope"):
        config = GPTConfig(V, n_layer=2, n_head=2, n_embd=8, block_size=12, position=position, dtype="float64")
        small = GPT(config, rng)
        for array in small.params.values():
            array += rng.standard_normal(array.shape) * 0.3
        errors = check_model(small, ids, targets, mask, rng, max_entries=entries)
        worst = max(errors, key=errors.get)
        print(f"  position={position}: {len(errors)} parameter arrays, up to {entries} entries each; "
              f"worst {worst} at {errors[worst]:.1e}")
        lesson.show(format_errors(dict(sorted(errors.items(), key=lambda item: -item[1])[:3]), TOLERANCE), indent=6)
        lesson.check(errors[worst] < TOLERANCE, f"every gradient is right with position={position}")
    first_loss, first_grads = small.loss_and_grads(ids, targets, mask)
    _, second_grads = small.loss_and_grads(ids, targets, mask)
    lesson.check(all(np.array_equal(first_grads[n], second_grads[n]) for n in first_grads)
                 and all(first_grads[n] is not second_grads[n] for n in first_grads),
                 "calling loss_and_grads twice gives the same, freshly made gradients (nothing accumulates)")

    lesson.step("Overfit one batch")
    lesson.say("""
        If the model can learn anything, it can learn eight examples by heart. A fresh model predicts
        every token about equally, so its first loss should be near log V. Then AdamW, step after step,
        on the same batch of scratchpads: the loss should fall towards zero.

        The learning rate follows the schedule of every real run (minipad.optim.lr_at): a short warmup,
        then a cosine decay to a tenth of the peak. At a constant rate the loss reaches 0.0002 and then
        can jump back to 0.1 or more: near zero loss the gradients are tiny, Adam divides them by the
        root of their tiny running square, and a step of full size throws the model off what it had
        learned. A decaying rate makes the last steps small, so the loss settles instead.
    """)
    addition = get_task("addition")
    tokenizer = addition.tokenizer()
    examples = sample_examples(addition, "train", 8, "scratchpad", split_rng(args.seed, "train"),
                               addition.make_options({"max_digits": 3}))
    batch = make_batch(tokenizer, examples)
    config = GPTConfig(V, n_layer=2, n_head=4, n_embd=32 if args.quick else 48, block_size=64, position="rope")
    model = GPT(config, rng)
    optimizer = AdamW.for_model(model, weight_decay=0.0)
    steps = 200 if args.quick else 300
    peak_lr = 6e-3
    losses = []
    started = time.perf_counter()
    for step in range(steps):
        loss, grads = model.loss_and_grads(batch.ids, batch.targets, batch.mask)
        clip_grad_norm(grads, 1.0)
        optimizer.step(model.params, grads, lr=lr_at(step, peak_lr, 10, steps, peak_lr / 10))
        losses.append(loss)
        if step % (steps // 6) == 0 or step == steps - 1:
            print(f"  step {step + 1:>4}  loss {loss:.4f}")
    print(f"  {steps} steps on a batch {batch.ids.shape} in {time.perf_counter() - started:.1f} s")
    lesson.check(abs(losses[0] - np.log(V)) < 0.2, f"the first loss is close to log V = {np.log(V):.2f}",
                 f"got {losses[0]:.3f}")
    lesson.check(losses[-1] < 0.05, "the loss on the batch falls below 0.05", f"got {losses[-1]:.4f}")
    lesson.say("""
        Now let the model write each memorised scratchpad from its prompt alone, greedily: the most likely
        next token, again and again, recomputing the whole sequence each time (generate_by_recomputing;
        lesson 10 makes this fast).
    """)
    prompts = [tokenizer.encode(prompt_text(e)) for e in examples]
    longest = max(len(tokenizer.encode(e.target)) for e in examples) + 2
    written = [tokenizer.decode(ids) for ids in generate_by_recomputing(model, prompts, longest, tokenizer.eos_id)]
    right = sum(text == e.target for text, e in zip(written, examples))
    lesson.show(prompt_text(examples[0]) + written[0])
    print(f"  {right} of {len(examples)} targets written back exactly")
    lesson.check(right >= len(examples) - 1, "the model writes back (nearly) every memorised scratchpad")
    lesson.say("""
        This proves the plumbing, not learning: the model has memorised eight answers and knows nothing
        about addition. Lesson 6 trains on fresh problems every step and tests on problems never seen.
    """)

    lesson.finish([
        "Double n_embd in count_by_hand: by how much does the count grow, and which term dominates?",
        "Set tie_weights=False in the gradient check: is the new head.weight checked too?",
        "Overfit at a constant lr=6e-3 (no schedule) with several --seed values: does the loss stay near "
        "zero once it gets there?",
        "Overfit with a peak of 3e-2 and of 3e-4: what happens to the loss curve in each case?",
        "Overfit with 64 examples instead of 8: how many steps until the loss is below 0.05?",
    ])


# %%
if __name__ == "__main__":
    run(main)
