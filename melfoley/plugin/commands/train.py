"""``melfoley train prior|renderer|highband|all`` (embedded tier) and ``melfoley train v2x|controlnet|adapter
--config FILE [--resume]`` (paper tier, on accelerate: ``accelerate launch --num_processes N -m melfoley train ...``
for several GPUs or CPU processes). Heavy imports happen inside ``run``.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_OUT = "melfoley/resources/embedded"
PAPER_PARTS = ("v2x", "controlnet", "adapter")


def add_parser(sub):
    p = sub.add_parser("train", help="train the embedded engine's models, or a paper-tier part (v2x, controlnet, adapter)",
                       description="Embedded tier: train on the corpus train split (the val split is held out). "
                                   "Paper tier: train V2X, the Mel-QCD ControlNet or the inversion adapter on a dataset "
                                   "from `melfoley dataset build`, with a JSON/TOML config (docs/paper_tier.md).")
    p.add_argument("what", choices=["prior", "renderer", "highband", "exemplars", "all", *PAPER_PARTS],
                   help="which model to train")
    p.add_argument("--config", type=Path, default=None, help="JSON (or, for the paper tier, TOML) file of training "
                   "settings; required for v2x, controlnet and adapter")
    p.add_argument("--resume", action="store_true", help="paper tier: continue from the latest checkpoint in out/")
    p.add_argument("--stop-at", type=int, default=None, help="paper tier: stop after this step with a checkpoint "
                   "(continue later with --resume)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None,
                   help=f"output folder (default: the package's resources/embedded, i.e. {DEFAULT_OUT})")
    p.add_argument("--corpus", type=Path, default=None, help="corpus root (default: $MELFOLEY_CORPUS or ../shared/corpus)")
    p.add_argument("--steps", type=int, default=None, help="renderer: optimiser steps (overrides the config)")
    p.add_argument("--max-minutes", type=float, default=None, help="renderer: stop after this many minutes")
    p.add_argument("--init", type=Path, default=None, help="renderer: continue from the weights in this folder")
    return p


def run_paper(args) -> int:
    from melfoley.core.errors import MelfoleyError

    if args.config is None:
        raise MelfoleyError(f"`melfoley train {args.what}` needs --config FILE (JSON or TOML with at least dataset, out "
                            "and, for controlnet/adapter, base); see docs/paper_tier.md")
    from melfoley.core.paper.train_config import TrainConfig
    from melfoley.core.paper.trainer import train

    cfg = TrainConfig.from_file(args.config, part=args.what, out=str(args.out) if args.out else None,
                                steps=args.steps)
    if args.seed:
        from dataclasses import replace

        cfg = replace(cfg, seed=args.seed)
    res = train(cfg, resume=args.resume, stop_at=args.stop_at)
    print(f"trained {args.what} to step {res['step']} (loss {res['loss']:.4f}); weights in {res['out']}")
    return 0


def run(args) -> int:
    from dataclasses import replace

    if args.what in PAPER_PARTS:
        return run_paper(args)
    from melfoley.core import train

    out = args.out or Path(__file__).resolve().parents[2] / "resources" / "embedded"
    if args.what in ("prior", "all"):
        train.train_prior(out, seed=args.seed, root=args.corpus)
    if args.what in ("highband", "all"):
        train.train_highband(out, root=args.corpus)
    if args.what in ("exemplars", "all"):
        train.train_exemplars(out, seed=args.seed, root=args.corpus)
    if args.what in ("renderer", "all"):
        cfg = train.RendererTrainConfig.from_file(args.config)
        if args.steps is not None:
            cfg = replace(cfg, steps=args.steps)
        if args.max_minutes is not None:
            cfg = replace(cfg, max_minutes=args.max_minutes)
        train.train_renderer(out, config=cfg, seed=args.seed, root=args.corpus, init=args.init)
    return 0
