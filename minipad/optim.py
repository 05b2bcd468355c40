"""The optimizer: AdamW, global gradient-norm clipping and the learning-rate schedule.

The model computes gradients and never touches its weights; `AdamW.step` is the one place where
weights change. Everything here works on plain `dict[str, np.ndarray]` keyed by parameter name, the
same dicts that `GPT.params` and `GPT.loss_and_grads` use.

    optimizer = AdamW.for_model(model, weight_decay=0.1)
    for step in range(total_steps):
        loss, grads = model.loss_and_grads(ids, targets, loss_mask)
        grad_norm = clip_grad_norm(grads, max_norm=1.0)
        optimizer.step(model.params, grads, lr=lr_at(step, 1e-3, 100, total_steps, 1e-4))
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

__all__ = ["AdamW", "clip_grad_norm", "lr_at"]


class AdamW:
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019), updating parameters in place.

    For every parameter p with gradient g, at step t = 1, 2, ... and learning rate lr:

        p <- p - lr * weight_decay * p        (only if the name is in decay_names)
        m <- beta1 * m + (1 - beta1) * g      (running mean of the gradient)
        v <- beta2 * v + (1 - beta2) * g**2   (running mean of its square)
        m_hat = m / (1 - beta1**t)            (bias correction: m and v start at zero)
        v_hat = v / (1 - beta2**t)
        p <- p - lr * m_hat / (sqrt(v_hat) + eps)

    "Decoupled" means the decay shrinks the weights directly instead of being added to the gradient,
    so it is not rescaled by Adam's per-parameter step size. The decay is multiplied by lr, as in
    PyTorch's AdamW, so it follows the schedule. m and v have the dtype of their parameter: a float32
    model stays float32.

    decay_names: the parameter names that get weight decay (usually the linear weights, not biases,
    LayerNorm gains or embeddings); `AdamW.for_model` takes them from `model.decay_names()`.
    """

    STATE_PREFIX = "adamw."

    def __init__(
        self,
        decay_names: Iterable[str],
        *,
        betas: tuple[float, float] = (0.9, 0.95),
        eps: float = 1e-8,
        weight_decay: float = 0.1,
    ):
        if isinstance(decay_names, str):
            raise TypeError("decay_names must be a collection of parameter names, not one string")
        beta1, beta2 = betas
        if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0):
            raise ValueError(f"betas must both be in [0, 1), got {betas}")
        if eps <= 0.0:
            raise ValueError(f"eps must be positive, got {eps}")
        if weight_decay < 0.0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay}")
        self.decay_names = frozenset(decay_names)
        self.betas = (float(beta1), float(beta2))
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self.step_count = 0  # t of the last completed step; bias correction uses t = step_count
        self.m: dict[str, np.ndarray] = {}  # first moment per parameter, created at the first step
        self.v: dict[str, np.ndarray] = {}  # second moment per parameter

    @classmethod
    def for_model(cls, model, **hyperparameters) -> "AdamW":
        """An AdamW that decays exactly the names in `model.decay_names()`."""
        return cls(model.decay_names(), **hyperparameters)

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray], lr: float) -> None:
        """Apply one AdamW update to every array in `params`, in place, using `grads`."""
        self._check(params, grads)
        beta1, beta2 = self.betas
        self.step_count += 1
        t = self.step_count
        # Python floats keep float32 arrays float32 (a NumPy float64 scalar would not, on NumPy 1.x).
        bias_correction1 = 1.0 - beta1**t
        bias_correction2 = 1.0 - beta2**t
        step_size = float(lr) / bias_correction1
        sqrt_bias_correction2 = math.sqrt(bias_correction2)
        for name, param in params.items():
            grad = grads[name]
            if name not in self.m:
                self.m[name] = np.zeros_like(param)
                self.v[name] = np.zeros_like(param)
            m, v = self.m[name], self.v[name]
            if name in self.decay_names and self.weight_decay != 0.0:
                param *= 1.0 - float(lr) * self.weight_decay
            m *= beta1
            m += (1.0 - beta1) * grad
            v *= beta2
            v += (1.0 - beta2) * (grad * grad)
            # lr * m_hat / (sqrt(v_hat) + eps), written with the corrections pulled out of the arrays:
            # m_hat / (sqrt(v_hat) + eps) = (m / bc1) / (sqrt(v) / sqrt(bc2) + eps)
            denominator = np.sqrt(v)
            denominator /= sqrt_bias_correction2
            denominator += self.eps
            param -= step_size * (m / denominator)

    def _check(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        missing = sorted(set(params) - set(grads))
        extra = sorted(set(grads) - set(params))
        if missing or extra:
            raise ValueError(f"grads and params name different arrays: missing {missing}, extra {extra}")
        unknown = sorted(self.decay_names - set(params))
        if unknown:
            raise ValueError(f"decay_names not among the parameters: {unknown}")
        for name, param in params.items():
            grad = grads[name]
            if grad.shape != param.shape or grad.dtype != param.dtype:
                raise ValueError(
                    f"grad {name!r} is {grad.dtype}{grad.shape} but the parameter is "
                    f"{param.dtype}{param.shape}"
                )
            if name in self.m and self.m[name].shape != param.shape:
                raise ValueError(f"optimizer state for {name!r} has shape {self.m[name].shape}, "
                                 f"the parameter {param.shape}: was the state loaded for another model?")

    def state_dict(self) -> dict[str, np.ndarray]:
        """The state as a flat dict of arrays, ready to save in an .npz next to the parameters.

        Keys: 'adamw.step' (0-d int64), 'adamw.m.<name>' and 'adamw.v.<name>' for every parameter
        seen so far. The hyperparameters are not included: they belong to the run's configuration.
        The arrays are copies, so later steps do not change a saved state.
        """
        state = {self.STATE_PREFIX + "step": np.array(self.step_count, dtype=np.int64)}
        for name in self.m:
            state[f"{self.STATE_PREFIX}m.{name}"] = self.m[name].copy()
            state[f"{self.STATE_PREFIX}v.{name}"] = self.v[name].copy()
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore what `state_dict` returned; the next `step` then matches an uninterrupted run.

        Every key must start with 'adamw.'; to load from a checkpoint that also holds the model,
        pass `{k: a for k, a in arrays.items() if k.startswith(AdamW.STATE_PREFIX)}`.
        """
        prefix = self.STATE_PREFIX
        foreign = sorted(key for key in state if not key.startswith(prefix))
        if foreign:
            raise ValueError(f"not AdamW state keys (they must start with {prefix!r}): {foreign}")
        step_key = prefix + "step"
        if step_key not in state:
            raise ValueError(f"AdamW state has no {step_key!r} entry")
        m, v = {}, {}
        for key, array in state.items():
            if key.startswith(prefix + "m."):
                m[key[len(prefix + "m."):]] = np.array(array)  # a copy we own
            elif key.startswith(prefix + "v."):
                v[key[len(prefix + "v."):]] = np.array(array)
            elif key != step_key:
                raise ValueError(f"unknown AdamW state key {key!r}")
        if set(m) != set(v):
            raise ValueError(f"AdamW state has first and second moments for different names: "
                             f"{sorted(set(m) ^ set(v))}")
        for name in m:
            if m[name].shape != v[name].shape:
                raise ValueError(f"AdamW state for {name!r}: m is {m[name].shape}, v is {v[name].shape}")
        self.step_count = int(state[step_key])
        self.m, self.v = m, v


def clip_grad_norm(grads: dict[str, np.ndarray], max_norm: float) -> float:
    """Scale all gradients in place so that their global L2 norm is at most max_norm.

    The global norm is sqrt(sum over every array g of sum(g**2)), accumulated in float64. If it
    exceeds max_norm, every gradient is multiplied by max_norm / norm (one factor for all, so the
    direction of the full gradient is kept); otherwise nothing changes. Returns the norm before
    clipping, which is worth logging. A non-finite norm (NaN or inf) is returned and the gradients
    are left as they are: the caller should skip that step rather than apply a meaningless scale.
    """
    if max_norm < 0.0:
        raise ValueError(f"max_norm must be >= 0, got {max_norm}")
    squared_sum = 0.0
    for grad in grads.values():
        flat = grad.reshape(-1).astype(np.float64, copy=False)
        squared_sum += float(np.dot(flat, flat))
    norm = math.sqrt(squared_sum)
    if math.isfinite(norm) and norm > max_norm:
        scale = max_norm / norm
        for grad in grads.values():
            grad *= scale
    return norm


def lr_at(step: int, max_lr: float, warmup_steps: int, total_steps: int, min_lr: float) -> float:
    """Learning rate for a 0-based step: linear warmup to max_lr, then cosine decay to min_lr.

        step <  warmup_steps:            lr = max_lr * (step + 1) / (warmup_steps + 1)
        warmup_steps <= step < total:    progress = (step - warmup_steps) / (total_steps - warmup_steps)
                                         lr = min_lr + (max_lr - min_lr) * (1 + cos(pi * progress)) / 2
        step >= total_steps:             lr = min_lr

    So lr(warmup_steps) = max_lr, the warmup rises strictly towards it without ever being zero,
    the decay falls monotonically after it, and lr(total_steps) = min_lr.
    """
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    if not 0 <= warmup_steps <= total_steps:
        raise ValueError(f"need 0 <= warmup_steps <= total_steps, got {warmup_steps} and {total_steps}")
    if not 0.0 <= min_lr <= max_lr:
        raise ValueError(f"need 0 <= min_lr <= max_lr, got min_lr={min_lr}, max_lr={max_lr}")
    if step >= total_steps:
        return float(min_lr)
    if step < warmup_steps:
        return max_lr * (step + 1) / (warmup_steps + 1)
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + (max_lr - min_lr) * 0.5 * (1.0 + math.cos(math.pi * progress))
