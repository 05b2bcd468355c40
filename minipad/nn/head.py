"""Output head: logits = x @ weight^T, weight (V,C) shaped like the token embedding so it can be tied to it."""


def head_forward(x, weight):
    """x (B,T,C), weight (V,C) -> logits (B,T,V). Cache: x and weight."""
    return x @ weight.T, (x, weight)


def head_backward(dlogits, cache):
    """dlogits (B,T,V) -> (dx (B,T,C), {"weight": (V,C)})."""
    x, weight = cache
    C, V = x.shape[-1], weight.shape[0]
    # forward was: logits = x @ weight^T
    dx = dlogits @ weight  # (B,T,C)
    dweight = dlogits.reshape(-1, V).T @ x.reshape(-1, C)  # (V,C)
    return dx, {"weight": dweight}
