"""Train the tiny DiT on the scikit-learn digits (needs the optional ``train`` extra: torch).

Not part of ``make test``. Run::

    .venv/bin/pip install -e '.[train]'
    .venv/bin/python -m golden.train_dit --out golden/weights

It writes ``tiny_dit.npz`` (the EMA weights, named as :mod:`exdisc.golden.dit` reads
them), ``tiny_dit.json`` (configuration, hyperparameters, seed, thread count,
versions, loss curve, wall time) and ``tiny_dit_fixture.npz`` (block inputs and
outputs of the torch model over a few DDIM steps, which pins the NumPy forward
pass). Training is seeded and single-process; with the same torch version and
thread count the weights are reproducible.
"""

import argparse
import json
import math
import platform
import sys
import time
from pathlib import Path

import numpy as np

from . import digits
from .dit_config import DiTConfig, pos_embed, timestep_features

try:
    import torch
    from torch import nn
    from torch.nn import functional as F
except ImportError:  # pragma: no cover - optional extra
    torch = None


def _require_torch():
    if torch is None:
        sys.exit("error: training needs torch: .venv/bin/pip install -e '.[train]'")


def _modulate(x, shift, scale):
    return x * (1 + scale[:, None]) + shift[:, None]


class Block(nn.Module if torch else object):
    def __init__(self, cfg):
        super().__init__()
        d = cfg.hidden
        self.cfg = cfg
        self.adaLN = nn.Linear(d, 6 * d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.fc1 = nn.Linear(d, cfg.ffn_dim)
        self.fc2 = nn.Linear(cfg.ffn_dim, d)

    def forward(self, x, c):
        cfg = self.cfg
        b, t, d = x.shape
        sh1, sc1, g1, sh2, sc2, g2 = self.adaLN(F.silu(c)).chunk(6, dim=1)
        h = _modulate(F.layer_norm(x, (d,), eps=1e-6), sh1, sc1)
        qkv = self.qkv(h).reshape(b, t, 3, cfg.heads, cfg.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        att = (q @ k.transpose(-1, -2)) / math.sqrt(cfg.head_dim)
        o = (att.softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)
        x = x + g1[:, None] * self.proj(o)
        h = _modulate(F.layer_norm(x, (d,), eps=1e-6), sh2, sc2)
        x = x + g2[:, None] * self.fc2(F.gelu(self.fc1(h), approximate="tanh"))
        return x


class TinyDiT(nn.Module if torch else object):
    def __init__(self, cfg):
        super().__init__()
        d = cfg.hidden
        self.cfg = cfg
        self.x_embedder = nn.Linear(cfg.patch_dim, d)
        self.register_buffer("pos_embed", torch.from_numpy(pos_embed(cfg)))
        self.t_mlp1 = nn.Linear(cfg.freq_dim, d)
        self.t_mlp2 = nn.Linear(d, d)
        self.y_embedder = nn.Embedding(cfg.num_classes + 1, d)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.final_adaLN = nn.Linear(d, 2 * d)
        self.final_linear = nn.Linear(d, cfg.patch_dim)
        self._init()

    def _init(self):
        # DiT's initialisation: xavier linears, N(0, 0.02) embeddings, adaLN-Zero.
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        nn.init.normal_(self.y_embedder.weight, std=0.02)
        nn.init.normal_(self.t_mlp1.weight, std=0.02)
        nn.init.normal_(self.t_mlp2.weight, std=0.02)
        for blk in self.blocks:
            nn.init.zeros_(blk.adaLN.weight)
            nn.init.zeros_(blk.adaLN.bias)
        for m in (self.final_adaLN, self.final_linear):
            nn.init.zeros_(m.weight)
            nn.init.zeros_(m.bias)

    def patchify(self, x):
        cfg = self.cfg
        b = x.shape[0]
        x = x.reshape(b, cfg.channels, cfg.grid, cfg.patch, cfg.grid, cfg.patch)
        return x.permute(0, 2, 4, 3, 5, 1).reshape(b, cfg.tokens, cfg.patch_dim)

    def unpatchify(self, x):
        cfg = self.cfg
        b = x.shape[0]
        x = x.reshape(b, cfg.grid, cfg.grid, cfg.patch, cfg.patch, cfg.channels)
        return x.permute(0, 5, 1, 3, 2, 4).reshape(b, cfg.channels, cfg.image_size, cfg.image_size)

    def embed(self, x, t, y):
        tf = torch.from_numpy(timestep_features(t.cpu().numpy(), self.cfg.freq_dim))
        c = self.t_mlp2(F.silu(self.t_mlp1(tf))) + self.y_embedder(y)
        return self.x_embedder(self.patchify(x)) + self.pos_embed, c

    def head(self, x, c):
        d = self.cfg.hidden
        shift, scale = self.final_adaLN(F.silu(c)).chunk(2, dim=1)
        return self.unpatchify(self.final_linear(_modulate(F.layer_norm(x, (d,), eps=1e-6),
                                                           shift, scale)))

    def forward(self, x, t, y, record=None):
        x, c = self.embed(x, t, y)
        for blk in self.blocks:
            if record is not None:
                record.append(x.detach().numpy().copy())
            x = blk(x, c)
        if record is not None:
            record.append(x.detach().numpy().copy())
        return self.head(x, c)


def export_weights(model):
    return {k: v.detach().cpu().numpy().astype(np.float32) for k, v in model.state_dict().items()
            if k != "pos_embed"}


def record_fixture(model, cfg, seed, steps=3, classes=(3, 7)):
    """Block inputs/outputs of the torch model over the first DDIM steps of a CFG run."""
    from .diffusion import ddim_timesteps
    rng = np.random.default_rng(seed)
    n = len(classes)
    z = rng.standard_normal((n, cfg.channels, cfg.image_size, cfg.image_size)).astype(np.float32)
    ts = ddim_timesteps(cfg, 50)[:steps]
    y = np.array(list(classes) + [cfg.num_classes] * n)
    out = {"z": z, "labels": y, "timesteps": np.array(ts)}
    with torch.no_grad():
        for i, t in enumerate(ts):
            x = np.concatenate([z, z])
            rec = []
            eps = model(torch.from_numpy(x), torch.full((2 * n,), int(t)), torch.from_numpy(y), rec)
            out[f"step{i}_x"] = x
            out[f"step{i}_blocks"] = np.stack(rec)
            out[f"step{i}_out"] = eps.numpy()
            # advance z with a plain DDIM step on the conditional half (any update will do:
            # the fixture only needs a few realistic inputs)
            z = (z - 0.1 * eps.numpy()[:n]).astype(np.float32)
    return out


def train(cfg, args):
    _require_torch()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(args.seed)
    images, labels = digits.load()
    data = torch.from_numpy(images)
    targets = torch.from_numpy(labels)
    model = TinyDiT(cfg)
    if args.init is not None:
        # continue a run: start from its exported (EMA) weights
        with np.load(args.init) as f:
            state = {k: torch.from_numpy(f[k]) for k in f.files}
        state["pos_embed"] = model.pos_embed
        model.load_state_dict(state)
    ema = TinyDiT(cfg)
    ema.load_state_dict(model.state_dict())
    for p in ema.parameters():
        p.requires_grad_(False)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    abar = torch.from_numpy(cfg.alphas_cumprod()).float()
    losses = []
    t0 = time.time()
    running = 0.0
    for step in range(1, args.steps + 1):
        idx = torch.from_numpy(rng.integers(0, len(data), args.batch))
        x0 = data[idx]
        if args.shift:
            # random translation by up to `shift` pixels: 1797 digits are few
            dx, dy = rng.integers(-args.shift, args.shift + 1, 2)
            x0 = torch.roll(x0, shifts=(int(dy), int(dx)), dims=(2, 3))
        y = targets[idx].clone()
        y[torch.from_numpy(rng.random(args.batch) < args.class_dropout)] = cfg.num_classes
        t = torch.from_numpy(rng.integers(0, cfg.train_steps, args.batch))
        noise = torch.from_numpy(rng.standard_normal(x0.shape).astype(np.float32))
        a = abar[t].reshape(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        lr = args.lr * min(1.0, step / args.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        loss = F.mse_loss(model(xt, t, y), noise)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.mul_(args.ema).add_(pm, alpha=1 - args.ema)
        running += loss.item()
        if step % args.log_every == 0:
            losses.append([step, running / args.log_every])
            print(f"step {step:6d}  loss {running / args.log_every:.4f}  "
                  f"{time.time() - t0:7.1f} s", flush=True)
            running = 0.0
    return ema, losses, time.time() - t0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path(__file__).parent / "weights")
    p.add_argument("--steps", type=int, default=3200)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--ema", type=float, default=0.999)
    p.add_argument("--class-dropout", type=float, default=0.1)
    p.add_argument("--shift", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init", type=Path, default=None,
                   help="continue from these weights (a previous run's tiny_dit.npz)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--log-every", type=int, default=100)
    p.add_argument("--hidden", type=int, default=DiTConfig.hidden)
    p.add_argument("--depth", type=int, default=DiTConfig.depth)
    p.add_argument("--heads", type=int, default=DiTConfig.heads)
    args = p.parse_args(argv)
    _require_torch()
    cfg = DiTConfig(hidden=args.hidden, depth=args.depth, heads=args.heads)
    model, losses, seconds = train(cfg, args)
    args.out.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out / "tiny_dit.npz", **export_weights(model))
    np.savez_compressed(args.out / "tiny_dit_fixture.npz", **record_fixture(model, cfg, args.seed))
    previous = None
    if args.init is not None and args.init.with_suffix(".json").exists():
        previous = json.loads(args.init.with_suffix(".json").read_text())
    record = {
        "config": cfg.as_dict(),
        "continued_from": previous,
        "objective": "DDPM epsilon prediction, MSE, linear betas; EMA weights exported",
        "hyperparameters": {k: (v.name if isinstance(v, Path) else v) for k, v in vars(args).items()
                            if k != "out"},
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "dataset": "sklearn.datasets.load_digits, 1797 images, 8x8 upsampled bilinearly to 32x32",
        "versions": {"torch": torch.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
        "wall_seconds": round(seconds, 1),
        "loss": losses,
    }
    (args.out / "tiny_dit.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.out}/tiny_dit.npz ({record['parameters']} parameters, {seconds:.0f} s)")


if __name__ == "__main__":
    main()
