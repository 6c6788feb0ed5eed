"""``melfoley train prior|renderer``: reproducible training of the embedded tier's weights.

Config (JSON, optional) + seed + the corpus manifest in; safetensors + JSON config +
ATTRIBUTION.md out. Heavy imports happen inside ``run``.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_OUT = "melfoley/resources/embedded"


def add_parser(sub):
    p = sub.add_parser("train", help="train the embedded engine's code prior or mel renderer on the corpus",
                       description="Train the embedded tier on the corpus train split (the val split is held out).")
    p.add_argument("what", choices=["prior", "renderer", "highband", "exemplars", "all"], help="which model to train")
    p.add_argument("--config", type=Path, default=None, help="JSON file of training settings (defaults if omitted)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=None,
                   help=f"output folder (default: the package's resources/embedded, i.e. {DEFAULT_OUT})")
    p.add_argument("--corpus", type=Path, default=None, help="corpus root (default: $MELFOLEY_CORPUS or ../shared/corpus)")
    p.add_argument("--steps", type=int, default=None, help="renderer: optimiser steps (overrides the config)")
    p.add_argument("--max-minutes", type=float, default=None, help="renderer: stop after this many minutes")
    p.add_argument("--init", type=Path, default=None, help="renderer: continue from the weights in this folder")
    return p


def run(args) -> int:
    from dataclasses import replace

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
