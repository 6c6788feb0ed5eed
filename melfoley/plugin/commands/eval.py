"""``melfoley eval DATASET_DIR --engine ANY [--weights DIR]``: onset accuracy / AP, energy correlation,
class accuracy and Frechet distance (aisfx), and V2X's code accuracy and E/D error, printed and
written as JSON (see core/paper/evaluate.py)."""

from __future__ import annotations

from pathlib import Path

from ...core.engines import DEFAULT_ENGINE  # import-light: a constant


def add_parser(sub):
    p = sub.add_parser("eval", help="score an engine on a paper-tier dataset's val clips",
                       description="Render every val clip of a dataset built by `melfoley dataset build` with an "
                                   "engine and score the takes against the clips' own sound.")
    p.add_argument("dataset", type=Path, help="dataset folder (manifest.json + shards/)")
    p.add_argument("--engine", default=DEFAULT_ENGINE, help="engine name (embedded, paper, library, debug, ...)")
    p.add_argument("--weights", metavar="DIR", help="local weights folder of the engine (e.g. --engine paper)")
    p.add_argument("--engine-opt", action="append", default=[], metavar="KEY=VALUE", help="engine option, repeatable")
    p.add_argument("--max-clips", type=int, default=None, help="score only the first N val clips")
    p.add_argument("-o", "--out", type=Path, default=None, help="JSON file (default: DATASET/eval-<engine>.json)")
    return p


def run(args) -> int:
    import json

    from melfoley.core.engine import engine_options, get_engine
    from melfoley.core.paper.evaluate import evaluate
    from melfoley.core.atomic import atomic_text
    from melfoley.plugin.commands.batch import _options

    opts = dict(_options(args.engine_opt))
    if args.weights:
        opts["weights"] = str(args.weights)
    engine = get_engine(args.engine, **engine_options(args.engine, opts))
    res = evaluate(args.dataset, engine, max_clips=args.max_clips)
    out = args.out or Path(args.dataset) / f"eval-{args.engine}.json"
    atomic_text(out, json.dumps(res, indent=1, default=str))
    for k, v in res["figures"].items():
        print(f"{k:<28} {v:.4f}" if isinstance(v, float) else f"{k:<28} {v}")
    print(f"written to {out}")
    return 0
