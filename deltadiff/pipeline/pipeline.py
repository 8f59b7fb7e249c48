"""`DeltaDiffusionPipeline`: demo video + context image → a video that starts at the context and carries out the
demo's action (δ-Diffusion, Fig. 2: action encoder → δ; autoencoder → context latent; generator + sampler → frames).

    pipe = DeltaDiffusionPipeline.from_pretrained("models/cpu-default")
    frames = pipe(demo="push.mp4", context="kitchen.jpg", seed=0)     # uint8 [T, H, W, 3], frame 0 = the context

Saved as a folder:
    pipeline.json      PipelineConfig (frames, size, fps, sampling defaults) + provenance
    action_encoder/    an ActionEncoder folder (foundation model + P)
    autoencoder/       a FrameAutoencoder folder
    generator/         generator.json + generator.safetensors

Input policy (docs/create.md):
- demo: any video / GIF / image folder. `demo_fps=None` (default) spreads the model's `frames` evenly over the whole
  demo, whatever its length and frame rate (a 10 s push and a 1 s push become the same 16 frames); a number instead
  reads consecutive frames at that rate from `demo_start` seconds. Frames are resized on the short side and
  centre-cropped to the model's square size.
- context: any image (or a video's first frame), resized on the short side and centre-cropped the same way.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch

from deltadiff.autoencoder import FrameAutoencoder, load_autoencoder
from deltadiff.bottleneck import ActionEncoder
from deltadiff.diffusion.sampling import SOLVERS, sample
from deltadiff.errors import ConfigError, InputNotFoundError, NotEnoughFramesError
from deltadiff.generator import SpaceTimeDiT
from deltadiff.io import probe, read_image, read_video
from deltadiff.io.tensor import frames_to_tensor, tensor_to_frames

CONFIG_NAME = "pipeline.json"
MAX_DEMO_SECONDS = 120.0  # longer demos are read up to here (the action is assumed to fit in two minutes)


@dataclass
class PipelineConfig:
    frames: int = 16  # output frames, context included
    size: int = 64  # square frame side
    fps: float = 8.0  # frame rate of the output (and of the training clips)
    steps: int = 8  # Heun: 15 network evaluations; 1.5 s per video on 2 CPU cores (benchmarks/bench_create.py)
    sampler: str = "heun"  # euler | heun | unipc
    guidance: float = 2.0  # classifier-free guidance scale on δ (1: none; 0: ignore δ)
    context_guidance: float = 1.0  # guidance scale on the context
    shift: float = 1.0  # time-schedule shift of the sampler
    noise_scale: float = 1.0  # sampling temperature: the starting noise is multiplied by it (docs/results.md)

    @classmethod
    def from_dict(cls, d: dict) -> "PipelineConfig":
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def _device(device) -> torch.device:
    return torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")


class DeltaDiffusionPipeline:
    def __init__(self, action_encoder: ActionEncoder, autoencoder: FrameAutoencoder, generator: SpaceTimeDiT,
                 config: PipelineConfig | None = None, meta: dict | None = None, device=None):
        self.action_encoder, self.autoencoder, self.generator = action_encoder, autoencoder, generator
        self.config = config or PipelineConfig()
        self.meta = meta or {}
        self.device = _device(device)
        self.generator.eval().requires_grad_(False).to(self.device)
        self.autoencoder.eval().requires_grad_(False).to(self.device)
        self.action_encoder.to(self.device)
        g = generator.config
        if self.config.frames != g.frames + 1:
            raise ConfigError(f"pipeline makes {self.config.frames} frames but the generator makes {g.frames} + context")

    # -- persistence -------------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | Path, device=None, variant: str | None = None,
                        precision: str = "auto") -> "DeltaDiffusionPipeline":
        """Load a model folder. `precision` is what δ's frozen encoder and P run in: "auto" (bf16 autocast on a CPU with
        native bf16, fp32 elsewhere; the DELTADIFF_PRECISION environment variable overrides), "fp32" or "bf16"."""
        path = Path(path)
        if not (path / CONFIG_NAME).is_file():
            raise InputNotFoundError(f"{path}: not a deltadiff model folder (no {CONFIG_NAME}); train one with "
                                     "`deltadiff train all` or use the bundled default (models/cpu-default)")
        saved = json.loads((path / CONFIG_NAME).read_text())
        for part in ("action_encoder", "autoencoder", "generator"):
            if not (path / part).is_dir():
                raise ConfigError(f"{path}: the model folder has no {part}/; it is incomplete — export it again")
        dev = _device(device)
        return cls(ActionEncoder.from_pretrained(path / "action_encoder", variant=variant, precision=precision),
                   load_autoencoder(path / "autoencoder"), SpaceTimeDiT.from_pretrained(path / "generator"),
                   PipelineConfig.from_dict(saved["config"]), saved.get("meta", {}), dev)

    @staticmethod
    def assemble(out: str | Path, action_encoder: str | Path, autoencoder: str | Path, generator: str | Path,
                 config: PipelineConfig, meta: dict | None = None) -> Path:
        """Copy trained parts into one self-contained model folder (written under a temporary name, then renamed)."""
        out = Path(out)
        tmp = out.with_name(out.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        ae_cfg = json.loads((Path(action_encoder) / "action_encoder.json").read_text())
        enc_src = Path(ae_cfg["encoder_path"])
        enc_src = enc_src if enc_src.is_absolute() else Path(action_encoder) / enc_src
        shutil.copytree(action_encoder, tmp / "action_encoder", ignore=shutil.ignore_patterns("bottleneck_run", "feature_cache", "foundation"))
        shutil.copytree(enc_src, tmp / "action_encoder" / "foundation")
        ae_cfg["encoder_path"] = "foundation"
        (tmp / "action_encoder" / "action_encoder.json").write_text(json.dumps(ae_cfg, indent=2))
        if Path(autoencoder).is_dir():
            shutil.copytree(autoencoder, tmp / "autoencoder")
        else:  # a weightless kind such as "pixel:4": written as its config
            load_autoencoder(autoencoder).save_pretrained(tmp / "autoencoder")
        shutil.copytree(generator, tmp / "generator")
        (tmp / CONFIG_NAME).write_text(json.dumps({"config": asdict(config), "meta": meta or {}}, indent=2))
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
        return out

    def with_generator(self, generator: str | Path | SpaceTimeDiT, variant: str) -> "DeltaDiffusionPipeline":
        """This pipeline's foundation encoder, P and autoencoder with another generator under bottleneck `variant` — the
        ablations (a generator trained with `deltadiff train generator --variant none|temporal_norm`)."""
        gen = generator if isinstance(generator, SpaceTimeDiT) else SpaceTimeDiT.from_pretrained(generator)
        if gen.config.frames != self.generator.config.frames or gen.config.latent_channels != self.generator.config.latent_channels:
            raise ConfigError(f"{generator}: this generator makes {gen.config.frames} frames of {gen.config.latent_channels}-"
                              f"channel latents, the model {self.generator.config.frames} of "
                              f"{self.generator.config.latent_channels}; train it on the same autoencoder and length")
        return DeltaDiffusionPipeline(self.action_encoder.with_variant(variant), self.autoencoder, gen, self.config,
                                      {**self.meta, "variant": variant}, self.device)

    # -- inputs -------------------------------------------------------------------------------------------------------
    def load_demo(self, demo, demo_fps: float | None = None, demo_start: float = 0.0) -> np.ndarray:
        """A demo path or uint8 [T, H, W, 3] array → uint8 [frames, size, size, 3] (module docstring: input policy)."""
        n, s = self.config.frames, self.config.size
        if isinstance(demo, np.ndarray):
            if demo.ndim != 4 or demo.shape[-1] != 3 or demo.dtype != np.uint8:
                raise ConfigError(f"a demo array must be uint8 [T, H, W, 3], got {demo.dtype} {list(demo.shape)}")
            from deltadiff.io import resize_frames

            frames = resize_frames(demo, s) if demo.shape[1:3] != (s, s) else demo
        elif demo_fps is not None:
            return read_video(demo, n, fps=demo_fps, start=demo_start, size=s)
        else:
            if probe(demo).kind == "image":
                raise NotEnoughFramesError(f"{demo}: a demo must be a video (got a single image); give a video, a GIF "
                                           "or a folder of frames")
            frames = read_video(demo, start=demo_start, size=s, max_duration=MAX_DEMO_SECONDS)
        if len(frames) < 2:
            raise NotEnoughFramesError(f"{demo if not isinstance(demo, np.ndarray) else 'demo'}: a demo needs at least "
                                       f"2 frames, got {len(frames)}")
        idx = np.linspace(0, len(frames) - 1, n).round().astype(int)  # the whole demo, evenly
        return frames[idx]

    def load_context(self, context) -> np.ndarray:
        """A context image path or uint8 [H, W, 3] array → uint8 [size, size, 3]."""
        s = self.config.size
        if isinstance(context, np.ndarray):
            if context.ndim != 3 or context.shape[-1] != 3 or context.dtype != np.uint8:
                raise ConfigError(f"a context array must be uint8 [H, W, 3], got {context.dtype} {list(context.shape)}")
            from deltadiff.io import resize_frames

            return resize_frames(context[None], s)[0] if context.shape[:2] != (s, s) else context
        return read_image(context, size=s)

    # -- generation ---------------------------------------------------------------------------------------------------
    @torch.no_grad()
    def generate(self, demos: np.ndarray, contexts: np.ndarray, seeds: list[int], *, steps: int | None = None,
                 sampler: str | None = None, guidance: float | None = None, context_guidance: float | None = None,
                 noise_scale: float | None = None, drop_delta: bool = False, delta: torch.Tensor | None = None,
                 progress=None) -> np.ndarray:
        """Batched core: demos uint8 [B, T, S, S, 3], contexts uint8 [B, S, S, 3] → uint8 [B, frames, S, S, 3].

        `drop_delta` generates with δ dropped (the null-action baseline: guidance scale 0 on δ is exactly the
        context-only path); `delta` overrides the demo's δ.
        """
        cfg = self.config
        steps, sampler = steps or cfg.steps, sampler or cfg.sampler
        guidance = cfg.guidance if guidance is None else guidance
        context_guidance = cfg.context_guidance if context_guidance is None else context_guidance
        noise_scale = cfg.noise_scale if noise_scale is None else noise_scale
        if sampler not in SOLVERS:
            raise ConfigError(f"unknown sampler {sampler!r}; choose one of {', '.join(SOLVERS)}")
        dev = self.device
        ctx = torch.stack([frames_to_tensor(c[None]) for c in contexts]).to(dev)  # [B, 1, 3, S, S]
        context_latent = self.autoencoder.encode(ctx)[:, 0]  # [B, c, h, w]
        if delta is None:
            video = torch.stack([frames_to_tensor(d) for d in demos]).to(dev)  # [B, T, 3, S, S]
            delta = self.action_encoder.encode(video)
        delta = delta.to(dev, context_latent.dtype)
        latents = sample(self.generator, context_latent, delta, seeds=seeds, steps=steps, solver=sampler, shift=cfg.shift,
                         scale_delta=0.0 if drop_delta else guidance, scale_context=context_guidance,
                         noise_scale=noise_scale, callback=progress)
        video = self.autoencoder.decode(latents)  # [B, frames-1, 3, S, S]
        out = np.stack([tensor_to_frames(v) for v in video.float().cpu()])
        return np.concatenate([np.asarray(contexts)[:, None], out], 1)  # the given context is frame 0

    def __call__(self, demo, context, *, seed: int = 0, demo_fps: float | None = None, demo_start: float = 0.0,
                 **kwargs) -> np.ndarray:
        """One video: uint8 [frames, size, size, 3]; keyword arguments as in `generate`."""
        d = self.load_demo(demo, demo_fps, demo_start)
        c = self.load_context(context)
        return self.generate(d[None], c[None], [seed], **kwargs)[0]
