"""``melfoley dataset build SRC -o DIR``: training data for the paper tier (see core/paper/dataset.py)."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub):
    p = sub.add_parser("dataset", help="build paper-tier training data from videos with sound",
                       description="Build a paper-tier dataset: per clip 16 kHz audio, the auffusion16k mel and its "
                                   "QCD targets, 25 fps visual features, the CLIP image embedding and the label, in "
                                   "safetensors shards with a manifest. Resumable: rerun the same command.")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    b = s.add_parser("build", help="build or resume a dataset")
    b.add_argument("src", type=Path, help="folder of videos (class sub-folders = labels), a CSV "
                   "(video[,audio][,label|caption][,start][,split], or VGGSound's vggsound.csv) or an AVSync15 .txt list")
    b.add_argument("-o", "--out", type=Path, required=True, help="dataset folder (created; resumed if it exists)")
    b.add_argument("--config", type=Path, default=None, help="JSON or TOML file of DatasetConfig settings")
    b.add_argument("--clip-seconds", type=float, default=None)
    b.add_argument("--max-clips-per-source", type=int, default=None)
    b.add_argument("--visual-encoder", default=None, help="folder with encoder.json (default: EfficientNet-Lite0)")
    b.add_argument("--clip-encoder", default=None, help="folder of a CLIP vision model for the adapter's embedding")
    b.add_argument("--val-fraction", type=float, default=None)
    b.add_argument("--workers", type=int, default=1, help="parallel worker processes")
    return p


def run(args) -> int:
    from melfoley.core.paper.dataset import DatasetConfig, build_dataset, with_overrides
    from melfoley.core.paper.train_config import read_settings

    cfg = with_overrides(DatasetConfig.from_dict(read_settings(args.config)), clip_seconds=args.clip_seconds,
                         max_clips_per_source=args.max_clips_per_source, visual_encoder=args.visual_encoder,
                         clip_encoder=args.clip_encoder, val_fraction=args.val_fraction)
    m = build_dataset(args.src, args.out, cfg, workers=args.workers)
    print(f"{args.out}: {m['counts']['train']} train and {m['counts']['val']} val clips in {len(m['shards'])} "
          f"shards; {len(m['skipped'])} sources skipped (reasons in manifest.json)")
    for s in m["skipped"][:10]:
        print(f"  skipped {s['video']}{' + ' + s['audio'] if s['audio'] else ''}: {s['reason']}")
    return 0
