"""G: a space-time diffusion transformer over frame latents (δ-Diffusion's G, panel (a) of the paper's method figure), predicting the flow velocity.

Tensor convention: latents `[B, T, C, h, w]` (T generated frames), the clean context latent `[B, C, h, w]`, action latents
δ `[B, T', N, D]`, tokens `[B, F, n, W]` with F = T + 1 frames (the context is frame 0) and n = (h/p)·(w/p) per frame.

- Context: the clean context latent is prepended as frame 0 with its own frame position; its output is discarded.
  Optionally it is also concatenated to every frame's channels (`context_concat`).
- Timestep: adaLN-zero (DiT, Peebles & Xie 2023, §3.2): each block's shift/scale/gate come from a zero-initialised linear
  map of the conditioning vector c, so every block starts as the identity.
- δ (`cond`):
  "xattn"   a cross-attention layer per block from video tokens to δ tokens. δ is first resampled in time to the video's
            F frames (δ frame i ↔ video frame i, the context being frame 0) and both carry sin-cos positions on the same
            time axis and the same spatial grid, so a query can match "its" δ token. `xattn_window` w restricts frame f to
            δ frames f−w..f+w: a full cross-attention over F·N δ tokens costs as much as full space-time attention.
  "adanorm" δ's tokens of each frame are attention-pooled (a learned query, as CLIP's AttentionPool2d) into one vector
            that is added to the timestep embedding of that frame: the adaLN modulation becomes per frame. With
            `delta_pool="global"` each frame's vector is instead an MLP of the whole clip's δ tokens (GlobalPool).
- Motion (`motion_head`, the cpu preset): a separate head M (generator/motion.py) reads δ and the context and gives
  each generated frame a dense backward flow; the prediction is built on the context warped by it, x̂0 = warp(c, M) +
  change, and every frame's tokens also carry their warped context. M is trained alone first, on the clips' own
  optical flow, then frozen; where δ is dropped its flow is zero (the unconditional branch is the static context).
- Attention: "factorised" (spatial within a frame, then temporal per token position, as Latte / OpenSora 1.0) is the
  default: on the CPU preset (1024 tokens, batch 8, one core) a training step took 3.1 CPU-s against 4.2 for "full"
  space-time attention (xattn; 2.2 against 3.1 for adanorm), although full has 23% fewer parameters
  (benchmarks/bench_generator.py). The gap grows with tokens: full attention is quadratic in F·n, factorised in n and F.
- Cost on CPU: "xattn" measured ~1.6× the step time of "adanorm" (one core: 3.5 s vs 2.0 s per step at batch 8); most
  of the difference is the per-block δ key/value projection over F·N tokens and the windowed attention.
- Condition dropout (classifier-free guidance): `drop_context` / `drop_delta` [B] bool masks (True = dropped) swap in a
  learned null context frame (in latent space, zero-initialised) and learned null δ tokens (zero-initialised: δ = 0 means
  "a single frame explains everything", i.e. no action). The masks are chosen by the loss; guidance is in the sampler.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from einops import rearrange
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.checkpoint import checkpoint

from deltadiff.errors import ConfigError, InputNotFoundError
from deltadiff.generator.config import GeneratorConfig
from deltadiff.generator.motion import MotionHead, resample_frames, warp
from deltadiff.io.writer import atomic_path

CONFIG_NAME = "generator.json"
WEIGHTS_NAME = "generator.safetensors"


# -- positions and embeddings -------------------------------------------------------------------------------------
def sincos(pos: torch.Tensor, dim: int, base: float = 10_000.0) -> torch.Tensor:
    """Sin-cos features of (possibly fractional) positions: [...] → [..., dim]."""
    freqs = torch.exp(-math.log(base) * torch.arange(dim // 2, dtype=torch.float32, device=pos.device) / (dim // 2))
    args = pos.float()[..., None] * freqs
    return torch.cat([args.sin(), args.cos()], -1)


def grid_positions(side: int, dim: int, scale: float = 1.0) -> torch.Tensor:
    """2-D sin-cos positions of a side×side grid, row-major: [side², dim]. `scale` maps the grid onto another grid's
    coordinates (cell centres aligned), so δ's 8×8 tokens and the video's tokens share one spatial frame."""
    c = (torch.arange(side, dtype=torch.float32, device="cpu") + 0.5) * scale - 0.5  # constants: built on CPU even under a meta-device context
    rows, cols = torch.meshgrid(c, c, indexing="ij")
    return torch.cat([sincos(rows.flatten(), dim // 2), sincos(cols.flatten(), dim // 2)], -1)


class TimestepEmbed(nn.Module):
    """t ∈ [0, 1] → [B, W] (DiT: sin-cos of 1000·t, then an MLP)."""

    def __init__(self, width: int, freq_dim: int = 256):
        super().__init__()
        self.freq_dim = freq_dim
        self.mlp = nn.Sequential(nn.Linear(freq_dim, width), nn.SiLU(), nn.Linear(width, width))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        return self.mlp(sincos(1000.0 * t, self.freq_dim).to(t.dtype))


# -- attention ----------------------------------------------------------------------------------------------------
class Attention(nn.Module):
    """Multi-head attention (self when `ctx` is None, else cross) over [batch, length, W] with optional QK-norm."""

    def __init__(self, width: int, heads: int, qk_norm: bool, cross: bool = False):
        super().__init__()
        self.heads, self.cross = heads, cross
        if cross:
            self.q, self.kv = nn.Linear(width, width), nn.Linear(width, 2 * width)
        else:
            self.qkv = nn.Linear(width, 3 * width)
        hd = width // heads
        self.qk_norm = qk_norm
        if qk_norm:
            self.norm_q, self.norm_k = nn.RMSNorm(hd, eps=1e-6), nn.RMSNorm(hd, eps=1e-6)
        self.out = nn.Linear(width, width)

    def attend(self, q, k, v, mask=None) -> torch.Tensor:
        q, k, v = (rearrange(a, "b l (h d) -> b h l d", h=self.heads) for a in (q, k, v))
        if self.qk_norm:  # weights cast to the activations' dtype: bf16 autocast otherwise misses the fused kernel
            q = F.rms_norm(q, q.shape[-1:], self.norm_q.weight.to(q.dtype), 1e-6)
            k = F.rms_norm(k, k.shape[-1:], self.norm_k.weight.to(k.dtype), 1e-6)
        o = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.out(rearrange(o, "b h l d -> b l (h d)"))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attend(*self.qkv(x).chunk(3, -1))


class DeltaCrossAttention(Attention):
    """Video tokens [B, F, n, W] attend δ tokens [B, F, N, W] of frames f−w..f+w (all frames when window is None)."""

    def __init__(self, width: int, heads: int, qk_norm: bool, window: int | None):
        super().__init__(width, heads, qk_norm, cross=True)
        self.window = window

    def forward(self, x: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
        b, f = x.shape[:2]
        q, kv = self.q(x), self.kv(d)  # kv projected once per δ frame, then gathered into windows
        w = self.window
        if w is None:
            k, v = rearrange(kv, "b f m c -> b (f m) c").chunk(2, -1)
            return rearrange(self.attend(rearrange(q, "b f n c -> b (f n) c"), k, v), "b (f n) c -> b f n c", f=f)
        mask = None
        if w > 0:
            kv = F.pad(kv, (0, 0, 0, 0, w, w)).unfold(1, 2 * w + 1, 1)  # [B, F, N, 2W, 2w+1]
            kv = rearrange(kv, "b f m c k -> b f (k m) c")
            valid = (torch.arange(f, device=x.device)[:, None] + torch.arange(2 * w + 1, device=x.device) - w)
            valid = ((valid >= 0) & (valid < f)).repeat_interleave(d.shape[2], 1)  # [F, (2w+1)·N]
            mask = valid.repeat(b, 1)[:, None, None, :]  # [(B F), 1, 1, K]: zero-padded frames are masked out
        k, v = rearrange(kv, "b f m c -> (b f) m c").chunk(2, -1)
        o = self.attend(rearrange(q, "b f n c -> (b f) n c"), k, v, mask)
        return rearrange(o, "(b f) n c -> b f n c", b=b)


class AttentionPool(nn.Module):
    """[B, F, N, W] → [B, F, W]: one learned query attends a frame's tokens."""

    def __init__(self, width: int, heads: int):
        super().__init__()
        self.query = nn.Parameter(torch.randn(1, 1, width) * 0.02)
        self.attn = Attention(width, heads, qk_norm=False, cross=True)

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        b = d.shape[0]
        tokens = rearrange(d, "b f m c -> (b f) m c")
        k, v = self.attn.kv(tokens).chunk(2, -1)
        o = self.attn.attend(self.attn.q(self.query).expand(tokens.shape[0], -1, -1), k, v)
        return rearrange(o, "(b f) 1 c -> b f c", b=b)


INPUT_GATE_OFFSET = 4.0  # the input gate starts almost shut: sigmoid(0 − 4) ≈ 0.018


class GlobalPool(nn.Module):
    """[B, F, N, W] → [B, F, W]: each token reduced to `reduce` numbers, all frames' tokens flattened, then an MLP —
    every frame's vector sees the whole clip's δ at fixed positions (`delta_pool="global"`)."""

    def __init__(self, width: int, frames: int, tokens: int, reduce: int = 4, hidden: int = 256):
        super().__init__()
        self.reduce = nn.Linear(width, reduce)
        self.mlp = nn.Sequential(nn.Linear(frames * tokens * reduce, hidden), nn.GELU(), nn.Linear(hidden, frames * width))

    def forward(self, d: torch.Tensor) -> torch.Tensor:
        b, f = d.shape[:2]
        return self.mlp(self.reduce(d).flatten(1)).view(b, f, -1)


# -- blocks -------------------------------------------------------------------------------------------------------
def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return torch.addcmul(shift, x, 1 + scale)  # one fused kernel: element-wise ops, not matmuls, bound the CPU step


class Block(nn.Module):
    """adaLN-zero block: [spatial attn, temporal attn] or [space-time attn], then [δ cross-attn], then MLP.
    c [B, 1 or F, W] modulates every frame (per-frame only in "adanorm" mode)."""

    def __init__(self, cfg: GeneratorConfig):
        super().__init__()
        w = cfg.width
        self.factorised = cfg.attention == "factorised"
        self.norm = nn.LayerNorm(w, elementwise_affine=False, eps=1e-6)
        self.attn = Attention(w, cfg.heads, cfg.qk_norm)
        self.attn_t = Attention(w, cfg.heads, cfg.qk_norm) if self.factorised else None
        self.xattn = DeltaCrossAttention(w, cfg.heads, cfg.qk_norm, cfg.xattn_window) if cfg.cond == "xattn" else None
        self.norm_x = nn.LayerNorm(w, eps=1e-6) if self.xattn is not None else None
        hidden = int(w * cfg.mlp_ratio)  # exact GELU: on CPU 2.3× faster than the tanh approximation DiT uses
        self.mlp = nn.Sequential(nn.Linear(w, hidden), nn.GELU(), nn.Linear(hidden, w))
        self.n_mod = 9 if self.factorised else 6
        self.mod = nn.Linear(w, self.n_mod * w)

    def forward(self, x: torch.Tensor, c: torch.Tensor, d: torch.Tensor | None) -> torch.Tensor:
        b, f = x.shape[:2]
        m = self.mod(F.silu(c))[:, :, None].chunk(self.n_mod, -1)  # each [B, 1|F, 1, W]
        h = modulate(self.norm(x), m[0], m[1])
        if self.factorised:
            h = rearrange(self.attn(rearrange(h, "b f n c -> (b f) n c")), "(b f) n c -> b f n c", b=b)
            x = x + m[2] * h
            h = modulate(self.norm(x), m[3], m[4])
            h = rearrange(self.attn_t(rearrange(h, "b f n c -> (b n) f c")), "(b n) f c -> b f n c", b=b)
            x = x + m[5] * h
        else:
            h = rearrange(self.attn(rearrange(h, "b f n c -> b (f n) c")), "b (f n) c -> b f n c", f=f)
            x = x + m[2] * h
        if self.xattn is not None:  # ungated, like PixArt's cross-attention; its zero-initialised output keeps adaLN-zero's identity start
            x = x + self.xattn(self.norm_x(x), d)
        return x + m[-1] * self.mlp(modulate(self.norm(x), m[-3], m[-2]))


X0_T_MIN = 0.05  # x0-prediction: the velocity divides by t, bounded away from 0


class SpaceTimeDiT(nn.Module):
    """`forward(x [B,T,C,h,w], t [B], context [B,C,h,w], delta [B,T',N,D], drop_context [B]|None, drop_delta [B]|None)
    -> v [B,T,C,h,w]`, the flow-matching velocity ε − x0 of the T future frames."""

    def __init__(self, config: GeneratorConfig):
        super().__init__()
        self.config = cfg = config
        w, p, c = cfg.width, cfg.patch_size, cfg.latent_channels
        self.patch_embed = nn.Linear(p * p * c * (1 + cfg.context_concat + cfg.motion_head), w)
        self.motion = MotionHead(cfg) if cfg.motion_head else None
        self.t_embed = TimestepEmbed(w)
        self.null_context = nn.Parameter(torch.zeros(c, cfg.latent_size, cfg.latent_size))
        self.null_delta = nn.Parameter(torch.zeros(cfg.delta_tokens, cfg.delta_dim))
        self.delta_embed = nn.Sequential(nn.Linear(cfg.delta_dim, w), nn.GELU(), nn.Linear(w, w))
        self.pool = None
        if cfg.cond == "adanorm":
            self.pool = GlobalPool(w, cfg.frames + 1, cfg.delta_tokens) if cfg.delta_pool == "global" else AttentionPool(w, cfg.heads)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.depth))
        self.norm_out = nn.LayerNorm(w, elementwise_affine=False, eps=1e-6)
        self.mod_out = nn.Linear(w, 2 * w)
        self.proj_out = nn.Linear(w, p * p * (c + (2 if cfg.context_warp else 0) + (1 if cfg.input_gate else 0)))
        dside = math.isqrt(cfg.delta_tokens)
        self.register_buffer("pos_video", grid_positions(cfg.grid, w), persistent=False)  # [n, W]
        self.register_buffer("pos_delta", grid_positions(dside, w, cfg.grid / dside), persistent=False)  # [N, W]
        self._init_weights()

    def _init_weights(self) -> None:  # DiT's initialisation: xavier linears, zero adaLN and output (adaLN-zero)
        for mod in self.modules():
            if isinstance(mod, nn.Linear):
                nn.init.xavier_uniform_(mod.weight)
                nn.init.zeros_(mod.bias)
        for lin in self.t_embed.mlp[::2]:
            nn.init.normal_(lin.weight, std=0.02)
        for blk in self.blocks:
            nn.init.zeros_(blk.mod.weight), nn.init.zeros_(blk.mod.bias)
            if blk.xattn is not None:
                nn.init.zeros_(blk.xattn.out.weight)
        for lin in (self.mod_out, self.proj_out):
            nn.init.zeros_(lin.weight), nn.init.zeros_(lin.bias)

    @property
    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _check(self, x: torch.Tensor, context: torch.Tensor, delta: torch.Tensor) -> None:
        cfg = self.config
        lat = (cfg.latent_channels, cfg.latent_size, cfg.latent_size)
        if x.ndim != 5 or tuple(x.shape[2:]) != lat:
            raise ConfigError(f"the generator was built for latents [B, T, {lat[0]}, {lat[1]}, {lat[2]}], got {list(x.shape)}")
        if tuple(context.shape) != (x.shape[0], *lat):
            raise ConfigError(f"context latent must be [B, {lat[0]}, {lat[1]}, {lat[2]}] with B={x.shape[0]}, got {list(context.shape)}")
        if delta.ndim != 4 or delta.shape[0] != x.shape[0] or tuple(delta.shape[2:]) != (cfg.delta_tokens, cfg.delta_dim):
            raise ConfigError(f"δ must be [B, T', {cfg.delta_tokens}, {cfg.delta_dim}] with B={x.shape[0]}, got {list(delta.shape)}; "
                              "use the action encoder this generator was trained with")

    def embed_delta(self, delta: torch.Tensor, frames: int, drop: torch.Tensor | None) -> torch.Tensor:
        """δ [B, T', N, D] → tokens [B, F, N, W] aligned to the video's F frames (linear resampling when T' ≠ F)."""
        if drop is not None:
            delta = torch.where(drop[:, None, None, None], self.null_delta.to(delta.dtype), delta)
        delta = resample_frames(delta, frames)  # δ frame i ↔ video frame i·(T'−1)/(F−1): both clips span the same time
        pos_t = sincos(torch.arange(frames, device=delta.device), self.config.width)
        return self.delta_embed(delta * self.config.delta_scale) + self.pos_delta + pos_t[:, None]

    @torch.no_grad()
    def motion_flow(self, context, delta, drop_context=None, drop_delta=None) -> torch.Tensor | None:
        """The frozen motion head's flow [B, T, 2, h, w] for (context, δ) with the drops applied (zero where δ is
        dropped); None without a motion head. It depends on neither x nor t, so a sampler computes it once per call
        and hands it to every network evaluation (`forward(motion_flow=...)`, `diffusion.sampling.guided`)."""
        if self.motion is None:
            return None
        if drop_context is not None:
            context = torch.where(drop_context[:, None, None, None], self.null_context.to(context.dtype), context)
        flow = self.motion(context, delta)
        if drop_delta is not None:
            flow = flow * (~drop_delta).to(flow.dtype)[:, None, None, None, None]
        return flow

    def forward(self, x, t, context, delta, drop_context=None, drop_delta=None, return_flow: bool = False,
                motion_flow: torch.Tensor | None = None):
        """The velocity [B, T, C, h, w]; with `return_flow` (context_warp only) also the predicted flow
        [B, T, 2, h, w] in latent cells, which the loss may supervise (FlowMatchingLoss.flow_weight).
        `motion_flow`: `self.motion_flow(context, delta, drop_context, drop_delta)` computed beforehand (samplers)."""
        cfg = self.config
        self._check(x, context, delta)
        if return_flow and not (cfg.context_warp or cfg.motion_head):
            raise ConfigError("return_flow needs a generator with context_warp or motion_head")
        flow = None
        b, n_fut, _, hh, _ = x.shape
        frames = n_fut + 1
        p = cfg.patch_size
        t = torch.as_tensor(t, dtype=x.dtype, device=x.device).expand(b)
        if drop_context is not None:
            context = torch.where(drop_context[:, None, None, None], self.null_context.to(context.dtype), context)
        base = context[:, None]  # what the predicted change is added to (context_residual)
        if self.motion is not None:  # the context warped by the frozen motion head's flow; zero flow where δ is dropped
            flow = self.motion_flow(context, delta, drop_delta=drop_delta) if motion_flow is None else motion_flow
            base = warp(context, flow, cfg.warp_unshuffle).to(x.dtype)  # [B, T, C, h, w]
        video = torch.cat([context[:, None], x], 1)  # [B, F, C, h, w]: the clean context is frame 0
        if cfg.context_concat:
            video = torch.cat([video, context[:, None].expand_as(video)], 2)
        if self.motion is not None:  # each frame also sees its warped context (the context itself beside frame 0)
            video = torch.cat([video, torch.cat([context[:, None], base], 1)], 2)
        tokens = rearrange(video, "b f c (h p) (w q) -> b f (h w) (p q c)", p=p, q=p)
        pos_t = sincos(torch.arange(frames, device=x.device), cfg.width)
        tokens = self.patch_embed(tokens) + self.pos_video + pos_t[:, None]  # [B, F, n, W]

        c = self.t_embed(t)[:, None]  # [B, 1, W]
        d = self.embed_delta(delta, frames, drop_delta)  # [B, F, N, W]
        if self.pool is not None:
            c, d = c + self.pool(d), None  # [B, F, W]: per-frame adaptive norm
        for blk in self.blocks:
            if cfg.grad_checkpointing and self.training and torch.is_grad_enabled():
                tokens = checkpoint(blk, tokens, c, d, use_reentrant=False)
            else:
                tokens = blk(tokens, c, d)

        c_out = c[:, 1:] if c.shape[1] > 1 else c
        shift, scale = self.mod_out(F.silu(c_out))[:, :, None].chunk(2, -1)
        out = self.proj_out(modulate(self.norm_out(tokens[:, 1:]), shift, scale))  # the context frame's output is discarded
        out = rearrange(out, "b f (h w) (p q c) -> b f c (h p) (w q)", h=hh // p, p=p, q=p)
        if cfg.context_residual:  # x̂0 = base + change: the context as given (the learned null one when dropped), or
            # with motion_head the context warped by M's flow
            if cfg.input_gate:  # ... + the noisy input where a predicted gate opens (the last channel)
                out, gate = out.split([out.shape[2] - 1, 1], 2)
                tt = t[:, None, None, None, None]
                s = (1 - tt) / ((1 - tt) ** 2 + tt**2)
                out = out + torch.sigmoid(gate - INPUT_GATE_OFFSET) * s * (x - (1 - tt) * base)
            if cfg.context_warp:  # ... or the context warped by the predicted flow (the last 2 channels)
                out, flow = out.split([out.shape[2] - 2, 2], 2)
                out = out + warp(context, flow, cfg.warp_unshuffle)
            else:
                out = out + base
        if cfg.prediction == "x0":  # x_t = (1 − t)·x0 + t·ε  ⇒  v = ε − x0 = (x_t − x0)/t
            out = (x - out) / t.clamp_min(X0_T_MIN)[:, None, None, None, None]
        return (out, flow) if return_flow else out

    # -- persistence ------------------------------------------------------------------------------------------------
    def save_pretrained(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        with atomic_path(path / WEIGHTS_NAME) as tmp:  # a run stopped mid-export keeps its previous complete export
            save_file({k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}, str(tmp))
        with atomic_path(path / CONFIG_NAME) as tmp:
            tmp.write_text(json.dumps(self.config.to_dict(), indent=2))
        return path

    @classmethod
    def from_pretrained(cls, path: str | Path, device: str | torch.device | None = None) -> SpaceTimeDiT:
        path = Path(path)
        if not (path / CONFIG_NAME).exists():
            raise InputNotFoundError(f"{path}: not a generator (no {CONFIG_NAME}); train one with `deltadiff train generator`")
        try:
            config = GeneratorConfig.from_dict(json.loads((path / CONFIG_NAME).read_text()))
        except (json.JSONDecodeError, TypeError) as e:
            raise ConfigError(f"{path / CONFIG_NAME}: unreadable generator config ({e})") from None
        if not (path / WEIGHTS_NAME).exists():
            raise ConfigError(f"{path}: {CONFIG_NAME} is there but {WEIGHTS_NAME} is missing; the export is incomplete")
        model = cls(config)
        state = load_file(str(path / WEIGHTS_NAME))
        own = model.state_dict()
        missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
        bad = [k for k in set(own) & set(state) if own[k].shape != state[k].shape]
        if missing or unexpected or bad:
            raise ConfigError(f"{path}: weights do not match {CONFIG_NAME} (missing {missing[:3]}, unexpected "
                              f"{unexpected[:3]}, wrong shape {sorted(bad)[:3]}); config and weights come from different models")
        model.load_state_dict(state)
        model.eval()
        return model.to(device) if device is not None else model
