# %%
"""Lesson 3: LayerNorm and GELU: derive the backward pass, decide what to cache, check it.

Goal: the two non-linear layers inside every transformer block. For LayerNorm, backprop through each
intermediate one at a time, then fold the steps into one formula, and decide what the forward should
keep for the backward. For GELU, derive the derivative of its tanh form and watch the gradient check
catch a backward that uses the other (erf) form.

Read first: minipad/nn/layernorm.py and minipad/nn/gelu.py: each holds the plain reference form (the
maths as written) and the fast form the model runs, which tests check agree.

Time: about a second (--quick: the same, on smaller arrays).

What you should see: the step-by-step and the folded LayerNorm backward agreeing with each other, with
the package and with central differences (errors around 1e-10); a cache of two numbers per row instead
of a copy of the whole activation; and a GELU backward with the wrong approximation failing its check.

Run:  python lessons/03_layernorm_and_gelu.py [--quick] [--seed N]
"""
from _common import Lesson, parse_args, run  # first: the path to minipad and single-threaded BLAS

import math

import numpy as np

from minipad.gradcheck import check_layer, format_errors
from minipad.nn import (gelu_backward, gelu_backward_reference, gelu_forward, gelu_forward_reference,
                        layernorm_backward, layernorm_backward_reference, layernorm_forward,
                        layernorm_forward_reference)
from minipad.nn.layernorm import EPS
from minipad.plot import line_plot

TOLERANCE = 1e-7


# %%
# ------------------------------------------------------------------------------------------ LayerNorm
# The forward and the folded backward are the package's reference forms (minipad/nn/layernorm.py):
# layernorm_forward_reference and layernorm_backward_reference. This lesson derives the backward step by step.
def layernorm_backward_step_by_step(dout, cache):
    """Reverse the forward one line at a time, the way you derive it on paper."""
    x, mean, rstd, gain = cache
    mean, rstd = mean[:, None], rstd[:, None]   # one number per row, (N,1)
    C = x.shape[1]
    centred = x - mean
    var = 1.0 / rstd ** 2 - EPS
    xhat = centred * rstd
    # forward was: out = xhat * gain + bias
    dgain = (dout * xhat).sum(axis=0)
    dbias = dout.sum(axis=0)
    dxhat = dout * gain
    # forward was: xhat = centred * rstd  (both factors depend on x)
    dcentred = dxhat * rstd
    drstd = (dxhat * centred).sum(axis=1, keepdims=True)
    # forward was: rstd = (var + eps) ** -0.5
    dvar = drstd * -0.5 * (var + EPS) ** -1.5
    # forward was: var = mean(centred ** 2)
    dcentred += dvar * 2.0 * centred / C
    # forward was: centred = x - mean, mean = mean(x): each x[i] also moves the mean by 1/C
    dx = dcentred - dcentred.mean(axis=1, keepdims=True)
    return dx, {"gain": dgain, "bias": dbias}


# %%
# ----------------------------------------------------------------------------------------------- GELU
# The matching derivative is the package's gelu_backward_reference (minipad/nn/gelu.py). Here is the other one:
def erf_gelu_backward(dout, cache):
    """The derivative of the *exact* GELU, x * Phi(x): Phi(x) + x * phi(x). Right formula, wrong forward."""
    x, _ = cache
    erf = np.vectorize(math.erf)
    cdf = 0.5 * (1.0 + erf(x / math.sqrt(2.0)))
    pdf = np.exp(-0.5 * x ** 2) / math.sqrt(2.0 * math.pi)
    return dout * (cdf + x * pdf), {}


# %%
def main():
    args = parse_args(__doc__)
    rng = np.random.default_rng(args.seed)
    lesson = Lesson(3, "LayerNorm and GELU")
    N, C = (6, 8) if args.quick else (12, 16)

    lesson.step("LayerNorm, forward, and the laws it must obey")
    lesson.say("""
        Each row (one position's C channels) is shifted to mean 0 and scaled to variance 1, then given a
        learned gain and bias: out = (x - mean) * rstd * gain + bias with rstd = 1 / sqrt(var + eps).
    """)
    x = rng.standard_normal((N, C)) * 3.0 + 1.5
    gain = rng.standard_normal(C)
    bias = rng.standard_normal(C)
    mine, cache = layernorm_forward_reference(x, gain, bias)   # the formulas as written
    theirs, _ = layernorm_forward(x, gain, bias)               # the fast form the model runs
    lesson.check(np.allclose(mine, theirs, rtol=0, atol=1e-12),
                 "the reference forward equals the fast minipad.nn.layernorm_forward")
    unit, _ = layernorm_forward(x, np.ones(C), np.zeros(C))
    lesson.check(np.allclose(unit.mean(axis=1), 0.0, atol=1e-12) and np.allclose(unit.var(axis=1), 1.0, atol=1e-3),
                 "with unit gain and zero bias every row has mean 0 and variance 1")
    lesson.check(np.allclose(layernorm_forward(4.0 * x + 7.0, gain, bias)[0], theirs, atol=1e-4),
                 "scaling or shifting a row changes nothing (the layer divides it out)")

    lesson.step("LayerNorm, backward: step by step, then folded")
    lesson.say("""
        The forward is five small lines: mean, centred = x - mean, var, rstd, xhat = centred * rstd, then
        out = xhat * gain + bias. Reverse them one at a time (see layernorm_backward_step_by_step in this
        file). The catch is that x reaches xhat by three roads: directly, through the mean and through the
        variance; the gradient is the sum over all three. Folding the steps gives one line,
        dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)): read it in
        layernorm_backward_reference; layernorm_backward is the same line, done chunk by chunk.
    """)
    upstream = rng.standard_normal((N, C))
    step_dx, step_grads = layernorm_backward_step_by_step(upstream, cache)
    fold_dx, fold_grads = layernorm_backward_reference(upstream, cache)
    their_dx, their_grads = layernorm_backward(upstream, layernorm_forward(x, gain, bias)[1])
    lesson.check(np.allclose(step_dx, fold_dx, rtol=0, atol=1e-12), "the step-by-step and the folded dx agree")
    lesson.check(np.allclose(fold_dx, their_dx, rtol=0, atol=1e-12)
                 and all(np.allclose(fold_grads[k], their_grads[k], rtol=0, atol=1e-12) for k in ("gain", "bias")),
                 "the folded gradients equal the fast minipad.nn.layernorm_backward's")
    lesson.check(np.allclose(fold_dx.sum(axis=1), 0.0, atol=1e-12),
                 "each row of dx sums to 0 (moving a whole row together changes nothing)")
    for name, backward in (("step by step", layernorm_backward_step_by_step), ("folded", layernorm_backward_reference)):
        errors = check_layer(layernorm_forward_reference, backward, {"x": x}, {"gain": gain, "bias": bias}, rng)
        print(f"  gradient check, {name}:")
        lesson.show(format_errors(errors, TOLERANCE), indent=6)
        lesson.check(max(errors.values()) < TOLERANCE, f"the {name} backward passes the gradient check")

    lesson.step("What to cache, and why")
    lesson.say("""
        The backward needs xhat. Caching it would cost another (B,T,C) array per LayerNorm; caching mean and
        rstd costs two numbers per row, and xhat = (x - mean) * rstd is one cheap pass to recompute. x itself
        costs nothing extra: the residual stream keeps it alive anyway. For the default training model:
    """)
    B, T, width, layers = 32, 320, 64, 2
    norms = 2 * layers + 1
    with_xhat = norms * B * T * width * 4
    with_stats = norms * B * T * 2 * 4
    print(f"  {norms} LayerNorms at B={B}, T={T}, C={width}, float32: caching xhat costs {with_xhat / 2**20:.1f} MiB "
          f"per step, mean and rstd {with_stats / 2**20:.2f} MiB")
    _, package_cache = layernorm_forward(x.astype(np.float32), gain.astype(np.float32), bias.astype(np.float32))
    cached_shapes = [np.shape(item) for item in package_cache]
    print(f"  minipad's LayerNorm cache holds shapes {cached_shapes}")
    lesson.check(cached_shapes[1] == (N,) and cached_shapes[2] == (N,),
                 "the package caches one mean and one rstd per row, not xhat")

    lesson.step("GELU and its two approximations")
    lesson.say("""
        GELU(x) = x * Phi(x), Phi the normal distribution's CDF. GPT-2 uses a tanh approximation,
        0.5 x (1 + tanh(k (x + a x^3))). Its derivative, by the product and chain rules, is
        0.5 (1 + t) + 0.5 x (1 - t^2) k (1 + 3 a x^2) with t the tanh: caching t saves the costliest part.
    """)
    h = rng.standard_normal((N, 4 * C)) * 2.0
    mine, gelu_cache = gelu_forward_reference(h)
    theirs, their_gelu_cache = gelu_forward(h)
    lesson.check(np.allclose(mine, theirs, rtol=0, atol=1e-12), "the reference GELU equals the fast gelu_forward")
    upstream = rng.standard_normal(h.shape)
    lesson.check(np.allclose(gelu_backward_reference(upstream, gelu_cache)[0],
                             gelu_backward(upstream, their_gelu_cache)[0], rtol=0, atol=1e-12),
                 "and its backward equals the fast gelu_backward")
    errors = {}
    for name, backward in (("tanh form (matches the forward)", gelu_backward_reference),
                           ("erf form (the exact GELU's derivative)", erf_gelu_backward)):
        errors[name] = check_layer(gelu_forward_reference, backward, {"x": h}, {}, rng)["x"]
        print(f"  gradient check of the {name}: relative error {errors[name]:.1e}")
    lesson.check(errors["tanh form (matches the forward)"] < TOLERANCE, "the matching derivative passes")
    lesson.check(errors["erf form (the exact GELU's derivative)"] > 1e-5,
                 "the derivative of the other approximation fails, though it looks just as right")
    grid = np.linspace(-4.0, 4.0, 161)
    slope, _ = gelu_backward_reference(np.ones_like(grid), gelu_forward_reference(grid)[1])
    print(line_plot(slope, width=48, height=8, title="gelu'(x) for x from -4 to 4 (tanh form)", x=grid))
    lesson.check(slope.min() < 0 and abs(slope[-1] - 1.0) < 1e-3 and abs(slope[0]) < 1e-3,
                 "gelu' dips below 0 for negative x, and tends to 0 on the left and 1 on the right")
    lesson.say("""
        Both derivatives are correct formulas, and training with the wrong one would even seem to work:
        the difference is about 1e-3. Only a gradient check that actually runs catches it.
    """)

    lesson.finish([
        "Copy layernorm_forward_reference into this file, cache xhat instead of mean and rstd, and time both "
        "backwards on a (32*320, 64) input: is recomputing xhat slower than reading it?",
        "Remove the 'dx = dcentred - mean(dcentred)' line from the step-by-step backward: which check fails, "
        "and which law (rows of dx sum to 0) explains it?",
        "Set eps to 0 and feed a row of equal values. What happens to the forward, and to the gradient check?",
        "Replace GELU by ReLU (max(0, x)) in a copy of gelu_forward_reference and its backward: what does the "
        "gradient check say at x = 0 exactly, and why does it not matter in practice?",
    ])


# %%
if __name__ == "__main__":
    run(main)
