"""How far the text path alone can lower the eps loss: the adapter-alone overfit of tests/test_paper_train.py.

    python bench/adapter_text_bound.py [--steps 50] [--work DIR]

Builds the tests' tiny dataset (corpus videos) and tiny-train base, trains the ControlNet + adapter 50
steps on the batch of two (fixed noise and timesteps, as the test), then, over that frozen ControlNet,
prints the loss at the first and best step of: the adapter alone (``melfoley train adapter``), free
placeholder embeddings per clip (textual inversion's own optimum: the most any adapter can reach on this
batch) and free text-encoder states (the whole text condition unconstrained). CPU, a minute or two.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import torch  # noqa: E402


class _Factory:  # the two methods of pytest's tmp_path_factory that tests/paper_data.py uses
    def __init__(self, root: Path):
        self.root = root

    def getbasetemp(self) -> Path:
        return self.root


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--work", default=None, help="folder for the dataset, base and runs (default: temp)")
    args = ap.parse_args(argv)
    from paper_data import tiny_base, tiny_dataset

    from melfoley.core.corpus import corpus_root
    from melfoley.core.paper.dataset import ClipDataset, collate
    from melfoley.core.paper.train_config import TrainConfig
    from melfoley.core.paper.train_parts import build_part
    from melfoley.core.paper.trainer import read_log, train

    torch.set_num_threads(1)
    work = Path(args.work or tempfile.mkdtemp(prefix="melfoley-adapter-bound-"))
    dataset, base = tiny_dataset(_Factory(work), corpus_root()), tiny_base(_Factory(work))
    common = dict(dataset=str(dataset), base=str(base), batch_size=2, warmup=0.0, schedule="constant",
                  checkpoint_every=0, validate_every=0, log_every=10**9, steps=args.steps, lr=5e-3,
                  fixed_noise=True, caption_dropout=0.0, model={"dropout": 0.0})
    quiet = dict(log=lambda *a: None)
    cn = work / "controlnet"
    train(TrainConfig(out=str(cn), part="controlnet", train_adapter=True, **common), **quiet)
    cfg = TrainConfig(out=str(work / "adapter"), part="adapter", init=str(cn), **common)
    train(cfg, **quiet)
    curves = {"controlnet + adapter (trainable)": [r["loss"] for r in read_log(cn / "log.csv")],
              "adapter alone": [r["loss"] for r in read_log(work / "adapter" / "log.csv")]}
    clips = ClipDataset(dataset, "train")
    batch = collate([clips[i] for i in range(len(clips))])
    part = build_part(cfg, clips, "cpu", torch.float32)
    curves["free placeholder embeddings"] = part.text_bound(batch, args.steps, lr=0.2, free="tokens")
    curves["free text-encoder states"] = part.text_bound(batch, args.steps, lr=0.1, free="states")
    print(f"eps-MSE on the fixed batch of two, {args.steps} steps (the last three over the frozen ControlNet):")
    print(f"{'what is optimised':<34}{'first':>9}{'best':>9}{'best/first':>12}")
    for name, c in curves.items():
        print(f"{name:<34}{c[0]:>9.4f}{min(c):>9.4f}{min(c) / c[0]:>12.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
