# %%
"""Lesson 2: Backprop by hand: a linear layer and softmax cross-entropy.

Goal: derive the backward pass of the two layers at either end of the model, check your formulas
against the package's layers and against central differences in float64, and read the plain reference
form of the loss beside the fast one the model runs. Then train a one-layer classifier with these
backward passes and see what one linear layer cannot learn.

Read first: minipad/nn/linear.py, minipad/nn/softmax.py, minipad/nn/loss.py (cross_entropy_forward_reference
and cross_entropy_backward_reference), minipad/gradcheck.py.

Time: about a second (--quick: the same, with fewer training steps).

What you should see: your gradients agreeing with the numerical ones to about 1e-10; a broken softmax
backward that passes a check with an all-ones upstream gradient and fails with a random one; and a
linear classifier that learns the carry of a column perfectly but the column's digit not at all.

Run:  python lessons/02_backprop_by_hand.py [--quick] [--seed N]
"""
from _common import Lesson, parse_args, run  # first: the path to minipad and single-threaded BLAS

import numpy as np

from minipad.gradcheck import check_layer, format_errors, numerical_gradient
from minipad.nn import (cross_entropy_backward, cross_entropy_backward_reference, cross_entropy_forward,
                        cross_entropy_forward_reference, linear_backward, linear_forward, softmax_backward,
                        softmax_forward)

TOLERANCE = 1e-7   # float64 central differences on a correct backward land far below this


# %%
def broken_softmax_backward(dp, cache):
    """A wrong backward: it forgets the Jacobian entirely and returns zeros."""
    return np.zeros_like(dp), {}


# %%
def main():
    args = parse_args(__doc__)
    rng = np.random.default_rng(args.seed)
    lesson = Lesson(2, "Backprop by hand: a linear layer and softmax cross-entropy")
    N, IN, OUT, V = 5, 4, 3, 7

    lesson.step("The linear layer, forward")
    lesson.say("""
        out = x @ weight + bias, with x (N,IN), weight (IN,OUT), bias (OUT,). Every gradient check runs in
        float64: float32 rounding (about 1e-7) would drown the differences we are looking for.
    """)
    x = rng.standard_normal((N, IN))
    weight = rng.standard_normal((IN, OUT))
    bias = rng.standard_normal(OUT)
    mine = x @ weight + bias                               # the formula, by hand
    theirs, their_cache = linear_forward(x, weight, bias)  # the cache keeps x and weight
    lesson.check(np.allclose(mine, theirs, rtol=0, atol=1e-12), "your forward equals minipad.nn.linear_forward")

    lesson.step("The linear layer, backward: derive, check, compare")
    lesson.say("""
        Write the loss as L = sum(out * g) for some upstream gradient g = dL/dout. Each out[n,o] is a sum
        of products x[n,i] weight[i,o], so dL/dx[n,i] collects g[n,o] weight[i,o] over o: dx = g @ weight^T.
        Likewise dweight = x^T @ g, and since one bias is added to every row, dbias is g summed over rows.
        The cache keeps x and weight: exactly what those two products need.
    """)
    upstream = rng.standard_normal((N, OUT))   # random, never all ones: see step 3
    my_dx = upstream @ weight.T                # out[n,o] = sum_i x[n,i] weight[i,o] + bias[o], so:
    my_dweight = x.T @ upstream                # dx[n,i] = sum_o g[n,o] weight[i,o],  dweight[i,o] = sum_n x[n,i] g[n,o]
    my_dbias = upstream.sum(axis=0)            # the same bias is added to every row
    their_dx, their_grads = linear_backward(upstream, their_cache)
    same = all(np.allclose(a, b, rtol=0, atol=1e-12) for a, b in
               [(my_dx, their_dx), (my_dweight, their_grads["weight"]), (my_dbias, their_grads["bias"])])
    lesson.check(same, "your dx, dweight and dbias equal minipad.nn.linear_backward's")
    lesson.say("""
        Equal to the package is not yet right: both could share a mistake. The judge is the numerical
        gradient, (f(w + h) - f(w - h)) / 2h for every entry, with f = sum(out * g) and a random g.
        minipad.gradcheck.check_layer does that for every input and parameter and reports the worst
        relative error:
    """)
    errors = check_layer(linear_forward, linear_backward, {"x": x}, {"weight": weight, "bias": bias}, rng)
    lesson.show(format_errors(errors, TOLERANCE))
    lesson.check(max(errors.values()) < TOLERANCE, f"every relative error is below {TOLERANCE:g}")

    lesson.step("Why the upstream gradient must be random")
    lesson.say("""
        A tempting shortcut checks f = sum(out), an all-ones upstream gradient. For softmax that is a trap:
        every row of softmax sums to 1, so sum(softmax(x)) is the constant N, its true gradient is zero,
        and a backward that returns zeros "passes". Here is such a broken backward, checked both ways:
    """)
    logits = rng.standard_normal((N, V))
    probs, softmax_cache = softmax_forward(logits)
    lesson.check(np.allclose(probs.sum(axis=1), 1.0), "softmax rows sum to 1")
    lesson.check(np.allclose(softmax_forward(logits + 3.7)[0], probs), "softmax ignores a constant shift")
    for name, upstream in (("all ones", np.ones((N, V))), ("random", rng.standard_normal((N, V)))):
        work = logits.copy()
        _, numeric = numerical_gradient(lambda: float(np.sum(softmax_forward(work)[0] * upstream)), work)
        broken, _ = broken_softmax_backward(upstream, softmax_cache)
        correct, _ = softmax_backward(upstream, softmax_cache)
        broken_error = np.abs(broken.reshape(-1) - numeric).max()
        correct_error = np.abs(correct.reshape(-1) - numeric).max()
        print(f"  upstream {name:<8}: largest numerical gradient {np.abs(numeric).max():.1e}; largest difference "
              f"from it: broken {broken_error:.1e}, minipad.nn.softmax_backward {correct_error:.1e}")
        if name == "all ones":
            lesson.check(broken_error < 1e-8, "with all ones, the broken backward agrees with the numbers: it passes")
        else:
            lesson.check(broken_error > 1e-2 and correct_error < 1e-8,
                         "with a random upstream gradient, the broken backward is caught")

    lesson.step("Softmax cross-entropy with a loss mask")
    lesson.say("""
        The loss is the mean of -log softmax(z)[target] over the counted rows (mask 1). Since
        -log softmax(z)[t] = logsumexp(z) - z[t] and the derivative of logsumexp is softmax itself,
        dz = (softmax(z) - onehot(t)) * mask / count. The forward already has softmax(z): cache it.
        minipad.nn.loss writes exactly this as cross_entropy_forward_reference and
        cross_entropy_backward_reference; the model runs cross_entropy_forward, the same sums done faster
        (no one-hot matrix, row sums as products with a vector of ones). Both must give the same numbers:
    """)
    targets = rng.integers(0, V, N)
    mask = np.array([0.0, 1.0, 1.0, 0.0, 1.0])   # rows 0 and 3 are the prompt: not counted
    plain_loss, plain_cache = cross_entropy_forward_reference(logits[None], targets[None], mask[None])
    fast_loss, fast_cache = cross_entropy_forward(logits[None], targets[None], mask[None])
    plain_dlogits = cross_entropy_backward_reference(1.0, plain_cache)[0][0]
    fast_dlogits = cross_entropy_backward(1.0, fast_cache)[0][0]
    by_hand = (plain_cache.probs - np.eye(V)[targets]) * (mask / mask.sum())[:, None]   # the formula above
    print(f"  reference loss {plain_loss:.6f}, fast {fast_loss:.6f}")
    lesson.check(abs(plain_loss - fast_loss) < 1e-12, "the reference loss equals the fast one the model runs")
    lesson.check(np.allclose(plain_dlogits, by_hand, rtol=0, atol=1e-12)
                 and np.allclose(fast_dlogits, by_hand, rtol=0, atol=1e-12),
                 "your dlogits equal both forms' cross_entropy_backward")
    lesson.check(np.all(plain_dlogits[mask == 0] == 0), "rows outside the mask get no gradient at all")
    errors = check_layer(lambda z: cross_entropy_forward_reference(z, targets[None], mask[None]),
                         cross_entropy_backward_reference, {"logits": logits[None]}, {}, rng)
    lesson.show(format_errors(errors, TOLERANCE))
    lesson.check(errors["logits"] < TOLERANCE, "the cross-entropy backward passes the gradient check")
    uniform_loss, _ = cross_entropy_forward(np.zeros((1, N, V)), targets[None], mask[None])
    lesson.check(abs(uniform_loss - np.log(V)) < 1e-12,
                 f"a model that knows nothing (equal logits) has loss log V = {np.log(V):.4f}")

    lesson.step("Train with these backward passes")
    lesson.say("""
        Put the two layers together: a one-layer classifier, logits = onehot(a) ++ onehot(b) @ W + bias,
        for the 100 pairs of digits a, b. It is trained twice with these backward passes and plain gradient
        descent: once to predict a column's carry (a + b >= 10), once its digit ((a + b) mod 10).
    """)
    a_digits, b_digits = (grid.reshape(-1) for grid in np.meshgrid(np.arange(10), np.arange(10)))
    features = np.zeros((100, 20))
    features[np.arange(100), a_digits] = 1.0
    features[np.arange(100), 10 + b_digits] = 1.0
    steps = 300 if args.quick else 2000
    accuracy = {}
    for name, labels, classes in (("carry", (a_digits + b_digits >= 10).astype(int), 2),
                                  ("digit", (a_digits + b_digits) % 10, 10)):
        weight = rng.standard_normal((20, classes)) * 0.01
        bias = np.zeros(classes)
        for _ in range(steps):
            logits, linear_cache = linear_forward(features, weight, bias)
            loss, loss_cache = cross_entropy_forward_reference(logits[None], labels[None], np.ones((1, 100)))
            dlogits, _ = cross_entropy_backward_reference(1.0, loss_cache)
            _, grads = linear_backward(dlogits[0], linear_cache)
            weight -= 1.0 * grads["weight"]   # the optimizer, not the backward, changes the weights
            bias -= 1.0 * grads["bias"]
        accuracy[name] = float(np.mean(linear_forward(features, weight, bias)[0].argmax(axis=1) == labels))
        print(f"  {name}: loss {loss:.4f} after {steps} steps, accuracy {100 * accuracy[name]:.0f}% "
              f"(chance {100 / classes:.0f}%)")
    lesson.check(accuracy["carry"] == 1.0, "the carry is a linear decision: learned perfectly")
    lesson.check(accuracy["digit"] < 0.5, "the digit is not: one linear layer stays near chance")
    lesson.say("""
        The digit's loss never leaves log 10 = 2.3026: for every a, the ten values of b cover every digit
        equally, so the gradient averages to zero. Adding modulo 10 needs features that combine a and b,
        which is what the transformer's attention and MLP layers provide (lessons 3 to 5).
    """)

    lesson.finish([
        "Copy linear_backward from minipad/nn/linear.py into this file and break it on purpose (forget the "
        "bias sum, or use weight instead of weight.T): watch the gradient check name the parameter.",
        "Run the linear gradient check in float32 (x.astype(np.float32)...): check_layer refuses. Why is "
        "float32 useless for central differences with h = 1e-5?",
        "Change h: try step=1e-2 and step=1e-9 in check_layer. Where does the error come from in each case?",
        "Add a hidden layer (linear_forward, gelu_forward, linear_forward) to the digit classifier and train "
        "it with their backward passes: can it learn (a + b) mod 10 now?",
    ])


# %%
if __name__ == "__main__":
    run(main)
