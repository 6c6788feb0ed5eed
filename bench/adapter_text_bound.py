"""Why the adapter alone needs a base that relies on its text: the adapter-alone overfit of tests/test_paper_train.py.

    python bench/adapter_text_bound.py [--steps 50] [--work DIR]

Builds the tests' tiny dataset (corpus videos) and prints eps-MSE on the fixed batch of two (fixed noise and
timesteps, as the tests), first, best and last/first of ``--steps`` steps, over two kinds of frozen base:

1. the random ``tiny-train`` base (as the ControlNet test): ControlNet + adapter trained together, then over
   that frozen ControlNet the adapter alone (``melfoley train adapter``), free placeholder embeddings per clip
   (textual inversion's own optimum: the most any adapter can reach on this batch) and free text-encoder
   states (the whole text condition unconstrained). A random base barely uses its text: nothing halves.
2. tests/paper_data.py::text_reliant_base, taught every caption on every clip's noisy latent (the test's
   base) and, for contrast, taught only the matching pairs: the loss with the right, swapped and empty
   captions, then the adapter alone from its initialisation with no event text, and the free-placeholder bound.
CPU, two or three minutes.
"""

from __future__ import annotations

import argparse
import json
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


def _table(title: str, curves: dict) -> None:
    print(title)
    print(f"  {'what is optimised':<34}{'first':>9}{'best':>9}{'best/first':>12}{'last/first':>12}")
    for name, c in curves.items():
        print(f"  {name:<34}{c[0]:>9.4f}{min(c):>9.4f}{min(c) / c[0]:>12.3f}{c[-1] / c[0]:>12.3f}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--work", default=None, help="folder for the dataset, bases and runs (default: temp)")
    args = ap.parse_args(argv)
    from accelerate.utils import set_seed
    from paper_data import text_reliant_base, tiny_base, tiny_dataset

    from melfoley.core.corpus import corpus_root
    from melfoley.core.paper.dataset import ClipDataset, collate
    from melfoley.core.paper.train_config import TrainConfig
    from melfoley.core.paper.train_parts import build_part
    from melfoley.core.paper.trainer import read_log, train

    torch.set_num_threads(1)
    work = Path(args.work or tempfile.mkdtemp(prefix="melfoley-adapter-bound-"))
    factory = _Factory(work)
    dataset, base = tiny_dataset(factory, corpus_root()), tiny_base(factory)
    common = dict(dataset=str(dataset), batch_size=2, warmup=0.0, schedule="constant", checkpoint_every=0,
                  validate_every=0, log_every=10**9, steps=args.steps, lr=5e-3, fixed_noise=True,
                  model={"dropout": 0.0})
    quiet = dict(log=lambda *a: None)
    clips = ClipDataset(dataset, "train")
    batch = collate([clips[i] for i in range(len(clips))])

    def latents(root: Path) -> str:
        """The VAE's scaled latents of the train clips: the clip's part (posterior mean) and the sampling's."""
        from diffusers import AutoencoderKL

        from melfoley.core.paper.train_parts import mel_image

        vae = AutoencoderKL.from_pretrained(root / "vae", local_files_only=True)
        with torch.no_grad():
            dist = vae.encode(mel_image(batch["mel"])).latent_dist
        k = vae.config.scaling_factor
        return (f"VAE latents x {k:.4g}: clip (posterior mean) std {float(dist.mean.std()) * k:.4f}, "
                f"sampling (posterior std) mean {float(dist.std.mean()) * k:.4f}")

    def adapter_alone(cfg) -> dict:
        train(cfg, **quiet)
        set_seed(cfg.seed)  # the trainer's adapter initialisation: the free embeddings start where the adapter did
        part = build_part(cfg, clips, "cpu", torch.float32)
        return {"adapter alone": [r["loss"] for r in read_log(Path(cfg.out) / "log.csv")],
                "free placeholder embeddings": part.text_bound(batch, args.steps, lr=0.2, free="tokens")}

    cn = work / "controlnet"
    train(TrainConfig(out=str(cn), part="controlnet", base=str(base), train_adapter=True, caption_dropout=0.0,
                      **common), **quiet)
    cfg = TrainConfig(out=str(work / "adapter"), part="adapter", base=str(base), init=str(cn), caption_dropout=0.0,
                      **common)
    curves = {"controlnet + adapter (trainable)": [r["loss"] for r in read_log(cn / "log.csv")], **adapter_alone(cfg)}
    set_seed(cfg.seed)
    curves["free text-encoder states"] = build_part(cfg, clips, "cpu", torch.float32).text_bound(
        batch, args.steps, lr=0.1, free="states")
    print(f"1. random tiny-train base: {latents(base)}")
    _table("   the last three over the frozen trained ControlNet:", curves)

    for contrast, what in ((True, "every caption on every clip (the test's)"), (False, "matching pairs only")):
        root = text_reliant_base(factory, dataset, contrast=contrast, name="text_base" if contrast else "match_base")
        cap = json.loads((root / "caption_losses.json").read_text())
        print(f"2. base taught {what}: {latents(root)}\n   caption loss right {cap['right']:.4f}  "
              f"swapped {cap['swapped']:.4f}  empty {cap['empty']:.4f}")
        cfg = TrainConfig(out=str(work / f"adapter-{root.name}"), part="adapter", base=str(root), caption_dropout=1.0,
                          **common)
        _table("   over it, no event text:", adapter_alone(cfg))
    return 0


if __name__ == "__main__":
    sys.exit(main())
