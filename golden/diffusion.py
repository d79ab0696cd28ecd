"""DDIM sampling with classifier-free guidance, with a hook at every step."""

import numpy as np


def ddim_timesteps(cfg, steps):
    """The ``steps`` training timesteps a DDIM run visits, from noisy to clean."""
    if not isinstance(steps, int) or isinstance(steps, bool) or not 1 <= steps <= cfg.train_steps:
        raise ValueError(f"steps: expected an integer in [1, {cfg.train_steps}], got {steps!r}")
    return [int(t) for t in np.round(np.linspace(cfg.train_steps - 1, 0, steps))]


def check_labels(labels, cfg):
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0 or labels.dtype.kind not in "iu" \
            or labels.min() < 0 or labels.max() >= cfg.num_classes:
        raise ValueError(f"labels: expected a non-empty list of classes in [0, {cfg.num_classes}), "
                         f"got {labels.tolist()!r}")
    return labels.astype(np.int64)


def sample(model, labels, executor, steps=50, guidance=3.0, seed=0, trajectory=False):
    """Generate one image per label with DDIM (eta = 0) and classifier-free guidance.

    The conditional and unconditional halves run as one batch of ``2n``
    sequences, as DiT samples. As in DiT's sampler, the predicted ``x0`` is
    not clipped (clipping it without recomputing the noise pushed this small
    model off its data manifold). The executor sees every block of every step.

    Returns ``(images [n, C, H, W], latents)`` where ``latents`` is the list of
    step inputs when ``trajectory`` is true, else ``None``.
    """
    cfg = model.cfg
    labels = check_labels(labels, cfg)
    if not isinstance(guidance, (int, float)) or isinstance(guidance, bool) or guidance < 0:
        raise ValueError(f"guidance: expected a non-negative number, got {guidance!r}")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    ts = ddim_timesteps(cfg, steps)
    abar = cfg.alphas_cumprod()
    n = len(labels)
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, cfg.channels, cfg.image_size, cfg.image_size)).astype(np.float32)
    y = np.concatenate([labels, np.full(n, cfg.num_classes)])
    executor.reset(model, steps)
    latents = [] if trajectory else None
    for i, t in enumerate(ts):
        if trajectory:
            latents.append(z)
        executor.begin_step(i, z)
        eps = model.forward(np.concatenate([z, z]), np.full(2 * n, t), y, executor)
        eps = eps[n:] + guidance * (eps[:n] - eps[n:])
        a_t = abar[t]
        a_prev = abar[ts[i + 1]] if i + 1 < len(ts) else 1.0
        x0 = (z - np.sqrt(1.0 - a_t) * eps) / np.sqrt(a_t)
        z = (np.sqrt(a_prev) * x0 + np.sqrt(1.0 - a_prev) * eps).astype(np.float32)
    return z, latents
