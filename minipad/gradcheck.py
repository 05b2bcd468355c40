"""Gradient checking: compare hand-written backward passes with central differences, in float64.

Numerical gradient of a scalar f with respect to one entry w:
    (f(w + h) - f(w - h)) / (2 h),   h = 1e-5 by default; error O(h^2) plus rounding O(1e-16 / h).
For a layer, f = sum(out * g) with g a random upstream gradient (never all ones: the sum of softmax
outputs is constant, so a ones upstream would pass any softmax backward).

Relative error of one tensor (the figure reported per input and per parameter):
    max_i |analytic_i - numeric_i| / max(max_i |analytic_i|, max_i |numeric_i|)
the worst entry's error measured against the tensor's largest gradient, 0 when both are all zero.
In float64 a correct backward gives about 1e-8 or less; 1e-6 or more points to a bug.

    errors = check_layer(linear_forward, linear_backward, {"x": x}, {"weight": w, "bias": b}, rng)
    errors = check_model(model, ids, targets, mask, rng)     # model built with dtype="float64"
    print(format_errors(errors))
"""
import numpy as np

STEP = 1e-5  # h of the central difference
TOLERANCE = 1e-6  # what the tests accept


def relative_error(analytic, numeric):
    """max |analytic - numeric| / max(max |analytic|, max |numeric|); 0 when both are all zero."""
    analytic, numeric = np.asarray(analytic, np.float64), np.asarray(numeric, np.float64)
    scale = max(np.abs(analytic).max(initial=0.0), np.abs(numeric).max(initial=0.0))
    return 0.0 if scale == 0 else float(np.abs(analytic - numeric).max() / scale)


def _entries(array, rng, max_entries):
    """Flat indices of the entries to perturb: all of them, or max_entries chosen at random."""
    if max_entries is None or array.size <= max_entries:
        return np.arange(array.size)
    return rng.choice(array.size, size=max_entries, replace=False)


def numerical_gradient(f, array, rng=None, max_entries=None, step=STEP):
    """Central differences of the scalar f() with respect to array, perturbed in place and restored.

    Returns (indices, gradient at those flat indices). With max_entries, only that many random entries.
    """
    flat = array.reshape(-1)  # a view: writing into it perturbs array
    if not np.shares_memory(flat, array):
        raise ValueError("numerical_gradient needs a contiguous array it can perturb in place")
    indices = _entries(array, rng, max_entries)
    gradient = np.empty(len(indices))
    for n, index in enumerate(indices):
        original = flat[index]
        flat[index] = original + step
        f_plus = f()
        flat[index] = original - step
        f_minus = f()
        flat[index] = original
        gradient[n] = (f_plus - f_minus) / (2 * step)
    return indices, gradient


def _require_float64(arrays, what):
    for name, array in arrays.items():
        if np.asarray(array).dtype != np.float64:
            raise ValueError(f"gradient checks run in float64, but {what} {name!r} is {np.asarray(array).dtype}")


def check_layer(forward, backward, inputs, params, rng, step=STEP):
    """Check a forward/backward pair; returns {name: relative error} for every input and parameter.

    forward(*inputs.values(), **params) -> (out, cache), out an array or a scalar;
    backward(dout, cache) -> (dinput, grads): dinput an array for one input (a tuple for several, in the
    order of inputs, anything for none), grads a dict keyed like params. Bind any other argument first
    (functools.partial or a lambda). All arrays must be float64. Names of inputs and params must differ.
    """
    _require_float64(inputs, "input")
    _require_float64(params, "parameter")
    inputs = {name: np.array(a, dtype=np.float64) for name, a in inputs.items()}  # private copies to perturb
    params = {name: np.array(a, dtype=np.float64) for name, a in params.items()}
    out, cache = forward(*inputs.values(), **params)
    upstream = rng.standard_normal(np.shape(out))  # random upstream gradient dL/dout

    def objective():  # L = sum(out * upstream), so dL/dout = upstream
        return float(np.sum(forward(*inputs.values(), **params)[0] * upstream))

    dinputs, dparams = backward(upstream if np.ndim(out) else float(upstream), cache)
    if len(inputs) == 1:
        dinputs = (dinputs,)
    analytic = dict(zip(inputs, dinputs)) if inputs else {}
    analytic.update(dparams)
    errors = {}
    for name, array in {**inputs, **params}.items():
        if analytic.get(name) is None:
            raise ValueError(f"backward returned no gradient for {name!r}")
        if np.shape(analytic[name]) != array.shape:
            raise ValueError(f"gradient of {name!r} has shape {np.shape(analytic[name])}, expected {array.shape}")
        indices, numeric = numerical_gradient(objective, array, step=step)
        errors[name] = relative_error(np.reshape(analytic[name], -1)[indices], numeric)
    return errors


def check_model(model, ids, targets, loss_mask, rng, max_entries=None, step=STEP, layout=None):
    """Check model.loss_and_grads against central differences of model.loss, parameter by parameter.

    The model must be built with dtype="float64". max_entries: check only that many random entries of each
    parameter (all when None). layout: a TokenLayout for models that need one (minipad/positions.py).
    Returns {parameter name: relative error}. The parameters are restored.
    """
    _require_float64(model.params, "parameter")
    _, grads = model.loss_and_grads(ids, targets, loss_mask, layout=layout)
    errors = {}
    for name, array in model.params.items():
        indices, numeric = numerical_gradient(
            lambda: model.loss(ids, targets, loss_mask, layout), array, rng, max_entries, step
        )
        errors[name] = relative_error(grads[name].reshape(-1)[indices], numeric)
    return errors


def format_errors(errors, tolerance=TOLERANCE):
    """One line per name: the relative error and whether it is within tolerance, worst last."""
    width = max((len(name) for name in errors), default=0)
    lines = [
        f"{name:<{width}}  {error:.2e}  {'ok' if error <= tolerance else 'FAIL'}"
        for name, error in sorted(errors.items(), key=lambda item: item[1])
    ]
    return "\n".join(lines)
