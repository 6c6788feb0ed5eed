"""Paper-tier training on CPU with tiny components over the corpus-built dataset (random ones, and for the
adapter alone a tiny base taught to rely on its captions): spec initialisation, overfitting a batch of two
for each part, --resume, two real processes, and a trained checkpoint loading into --engine paper."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from melfoley.core.errors import MelfoleyError, WeightsError
from melfoley.core.paper.train_config import TrainConfig
from melfoley.core.paper.trainer import read_log, train
from paper_data import text_reliant_base, tiny_base, tiny_dataset

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TINY_V2X_MODEL = {"dim": 32, "num_layers": 2, "num_heads": 4, "ffn_dim": 64, "rel_pos_hidden": 16}
QUIET = dict(log=lambda *a: None)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, corpus):
    return tiny_dataset(tmp_path_factory, corpus)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return tiny_base(tmp_path_factory)


def _cfg(dataset, out, **kw):
    return TrainConfig(**{"dataset": str(dataset), "out": str(out), "batch_size": 2, "warmup": 0.0,
                          "schedule": "constant", "checkpoint_every": 0, "validate_every": 0, "log_every": 1000, **kw})


@pytest.fixture(scope="module")
def controlnet_run(dataset, base, tmp_path_factory):
    """50 steps of ControlNet + adapter (joint, the spec's trainable pair) on the two train clips."""
    out = tmp_path_factory.mktemp("cn") / "out"
    cfg = _cfg(dataset, out, part="controlnet", base=str(base), steps=50, lr=5e-3, fixed_noise=True,
               caption_dropout=0.0, train_adapter=True, validate_every=25, sample_every=25, sample_steps=2,
               checkpoint_every=50, model={"dropout": 0.0})
    train(cfg, **QUIET)
    return out


def test_controlnet_starts_as_the_spec_says(dataset, base):
    from melfoley.core.paper.train_parts import build_part

    part = build_part(_cfg(dataset, "unused", part="controlnet", base=str(base), steps=1),
                      __import__("melfoley.core.paper.dataset", fromlist=["x"]).ClipDataset(dataset), "cpu",
                      torch.float32)
    cn, unet = part.controlnet, part.unet
    torch.testing.assert_close(cn.down_blocks[0].resnets[0].conv1.weight, unet.down_blocks[0].resnets[0].conv1.weight)
    torch.testing.assert_close(cn.conv_in.weight, unet.conv_in.weight)
    zero = [*cn.controlnet_down_blocks, cn.controlnet_mid_block, cn.controlnet_cond_embedding.conv_out]
    assert all(float(p.detach().abs().max()) == 0 for m in zero for p in m.parameters())
    assert not any(p.requires_grad for m in (part.unet, part.vae, part.text_encoder) for p in m.parameters())


def test_v2x_overfits_a_batch_of_two(dataset, tmp_path):
    cfg = _cfg(dataset, tmp_path / "v2x", part="v2x", steps=50, lr=3e-3, model={**TINY_V2X_MODEL, "dropout": 0.0})
    train(cfg, **QUIET)
    rows = read_log(tmp_path / "v2x" / "log.csv")
    assert len(rows) == 50 and rows[-1]["loss"] <= 0.5 * rows[0]["loss"]
    assert rows[-1]["accuracy"] > rows[0]["accuracy"]
    meta = json.loads((tmp_path / "v2x" / "v2x" / "features.json").read_text())
    assert meta["kind"] == "transformers" and len(meta["visual_encoder"]) == 16


def test_controlnet_and_adapter_overfit_a_batch_of_two(controlnet_run, base):
    rows = read_log(controlnet_run / "log.csv")
    assert len(rows) == 50 and rows[-1]["loss"] <= 0.5 * rows[0]["loss"]
    assert rows[-1]["loss"] < rows[25]["loss"]  # still learning after the step-25 sample (nothing left frozen)
    val = read_log(controlnet_run / "val.csv")
    assert [r["step"] for r in val] == [25, 50]
    assert val[-1]["step"] == 50 and np.isfinite(val[-1]["val_loss"])
    import soundfile as sf

    audio, sr = sf.read(controlnet_run / val[-1]["sample"])  # the rendered sample with its control
    assert sr == 16000 and audio.shape == (20480,) and np.isfinite(audio).all()
    assert (controlnet_run / "samples" / "step-0000050.control.json").exists()
    from melfoley.core.paper.adapter import InversionAdapter

    before = InversionAdapter.from_pretrained(base / "adapter", local_files_only=True)
    after = InversionAdapter.from_pretrained(controlnet_run / "adapter", local_files_only=True)
    assert not torch.allclose(before.layers[0].weight, after.layers[0].weight)  # the adapter trained too


@pytest.fixture(scope="module")
def text_base(tmp_path_factory, dataset):
    return text_reliant_base(tmp_path_factory, dataset)


def test_adapter_alone_overfits_a_batch_of_two_over_a_base_that_relies_on_its_text(dataset, text_base, tmp_path):
    """`melfoley train adapter` from the spec's initialisation, 50 steps on the fixed batch of two (fixed noise and
    timesteps), no event text (every caption dropped: the prompt is ", $ ... $"), over a frozen tiny base that
    relies on its captions as a trained text-to-audio model does (tests/paper_data.py::text_reliant_base): the
    adapter must supply from the video's CLIP embedding what each clip's caption supplied. Over a random base
    it cannot: there even free placeholder embeddings lower this loss by under 1 % (bench/adapter_text_bound.py)."""
    from dataclasses import replace

    from melfoley.core.paper.dataset import ClipDataset, collate
    from melfoley.core.paper.train_parts import build_part
    from melfoley.core.paper.weights import content_id

    caption = json.loads((text_base / "caption_losses.json").read_text())
    assert caption["right"] < 0.1 * min(caption["swapped"], caption["empty"])  # the base relies on its text
    frozen = ("vae", "unet", "text_encoder", "controlnet")
    before = {n: content_id(text_base / n) for n in frozen}
    out = tmp_path / "ad"
    cfg = _cfg(dataset, out, part="adapter", base=str(text_base), steps=50, lr=5e-3, fixed_noise=True,
               caption_dropout=1.0, model={"dropout": 0.0})
    train(cfg, **QUIET)
    loss = [r["loss"] for r in read_log(out / "log.csv")]
    assert len(loss) == 50 and loss[-1] <= 0.5 * loss[0]
    assert loss[0] > 2 * caption["right"]  # the adapter's first tokens are no caption: there was a gap to close
    # only the adapter trained: the base's parts are linked into the output, not rewritten, and unchanged
    assert {n: content_id(text_base / n) for n in frozen} == before
    assert all((out / n).resolve() == (text_base / n).resolve() for n in frozen)
    clips = ClipDataset(dataset, "train")
    part = build_part(replace(cfg, base=str(out)), clips, "cpu", torch.float32)  # the trained folder
    trainable = {id(p) for p in part.trainable().parameters() if p.requires_grad}
    assert trainable == {id(p) for p in part.adapter.parameters()}
    assert not any(p.requires_grad for m in (part.vae, part.unet, part.text_encoder, part.controlnet)
                   for p in m.parameters())
    with torch.no_grad():  # the saved adapter over the frozen parts from disk keeps the overfit
        final = float(part.loss(part.branch(), collate([clips[i] for i in range(len(clips))]), 0)["loss"])
    assert final <= 0.5 * loss[0]


@pytest.mark.parametrize("part", ["v2x", "controlnet"])
def test_resume_continues_the_loss_curve(dataset, base, tmp_path, part):
    """Dropout on (V2X's layers; the adapter's MLP trained jointly with the ControlNet): the RNG states are restored
    too. The ControlNet's noise and timesteps are drawn per (step, clip), not fixed."""
    kw = dict(part="v2x", steps=6, lr=3e-3, checkpoint_every=3, model=TINY_V2X_MODEL) if part == "v2x" else \
        dict(part="controlnet", base=str(base), steps=4, lr=1e-3, checkpoint_every=2, train_adapter=True,
             model={"dropout": 0.5})
    train(_cfg(dataset, tmp_path / "full", **kw), **QUIET)
    cut = kw["checkpoint_every"]
    train(_cfg(dataset, tmp_path / "cut", **kw), stop_at=cut, **QUIET)
    assert len(read_log(tmp_path / "cut" / "log.csv")) == cut
    train(_cfg(dataset, tmp_path / "cut", **kw), resume=True, **QUIET)
    full = [r["loss"] for r in read_log(tmp_path / "full" / "log.csv")]
    resumed = [r["loss"] for r in read_log(tmp_path / "cut" / "log.csv")]
    assert len(set(full)) == len(full)  # the curve moves: a restart from step 0 would not match
    np.testing.assert_allclose(resumed, full, rtol=1e-5)


def test_gradient_accumulation_equals_the_larger_batch(dataset, tmp_path):
    kw = dict(part="v2x", steps=3, lr=3e-3, model={**TINY_V2X_MODEL, "dropout": 0.0})
    train(_cfg(dataset, tmp_path / "b2", **kw), **QUIET)
    train(_cfg(dataset, tmp_path / "acc", **{**kw, "batch_size": 1, "grad_accum": 2}), **QUIET)
    big = read_log(tmp_path / "b2" / "log.csv")
    acc = read_log(tmp_path / "acc" / "log.csv")
    assert [r["step"] for r in acc] == [1, 2, 3]
    np.testing.assert_allclose([r["loss"] for r in acc], [r["loss"] for r in big], rtol=1e-5)
    assert big[-1]["loss"] < big[0]["loss"]


@pytest.mark.parametrize("part", ["v2x", "controlnet"])
def test_two_processes_equal_one_with_the_same_global_batch(dataset, base, tmp_path, part):
    """A real `accelerate launch` of two CPU processes (torchrun + gloo), batch 1 each, vs one with batch 2; for
    the ControlNet, the DDP-wrapped branch with the adapter, per-clip noise and caption dropout."""
    cfg = {"dataset": str(dataset), "part": part, "steps": 2, "lr": 3e-3, "warmup": 0.0, "checkpoint_every": 0,
           "validate_every": 0, "model": {**TINY_V2X_MODEL, "dropout": 0.0}}
    if part == "controlnet":
        cfg.update(base=str(base), lr=1e-3, train_adapter=True, caption_dropout=0.5, model={"dropout": 0.0})
    (tmp_path / "two.json").write_text(json.dumps({**cfg, "out": str(tmp_path / "two"), "batch_size": 1}))
    train(TrainConfig.from_dict({**cfg, "out": str(tmp_path / "one"), "batch_size": 2}), **QUIET)  # in this process
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launch = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
              "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no", "-m",
              "melfoley.plugin.cli", "train", part, "--config", str(tmp_path / "two.json")]
    run = subprocess.run(launch, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    one = read_log(tmp_path / "one" / "log.csv")
    two = read_log(tmp_path / "two" / "log.csv")
    np.testing.assert_allclose([r["loss"] for r in two], [r["loss"] for r in one], rtol=1e-5)


def test_trained_checkpoint_loads_into_the_paper_engine_and_renders(controlnet_run, corpus):
    from melfoley.core.engine import FoleyRequest
    from melfoley.core.engines.paper import PaperEngine
    from melfoley.core.paper.controlnet import MelQCDControlNetModel

    engine = PaperEngine(controlnet_run, device="cpu", steps=2)
    trained = MelQCDControlNetModel.from_pretrained(controlnet_run / "controlnet", local_files_only=True)
    torch.testing.assert_close(engine.pipe.controlnet.controlnet_mid_block.weight, trained.controlnet_mid_block.weight)
    assert float(trained.controlnet_mid_block.weight.abs().max()) > 0  # zero-initialised, then trained
    req = FoleyRequest(corpus / "video" / "bigbuckbunny.mp4", 0.0, 1.28, "bunny hops on grass", seed=1)
    take = engine.generate([req])[0][0]
    assert take.audio.shape == (20480,) and np.isfinite(take.audio).all() and take.audio.std() > 0


def test_bad_configs_are_clear(dataset, tmp_path):
    with pytest.raises(MelfoleyError, match="needs `base`"):
        _cfg(dataset, tmp_path, part="controlnet", steps=1)
    with pytest.raises(MelfoleyError, match="unknown training settings"):
        TrainConfig.from_dict({"dataset": "d", "out": "o", "part": "v2x", "stepz": 3})
    (tmp_path / "c.toml").write_text('dataset = "d"\nout = "o"\npart = "v2x"\nsteps = 7\n')
    assert TrainConfig.from_file(tmp_path / "c.toml").steps == 7
    with pytest.raises(WeightsError, match="base model in"):
        train(_cfg(dataset, tmp_path / "o", part="controlnet", base=str(tmp_path), steps=1), **QUIET)


def test_bf16_mixed_precision_runs_the_same_step(dataset, tmp_path):
    kw = dict(part="v2x", steps=2, lr=3e-3, model={**TINY_V2X_MODEL, "dropout": 0.0})
    train(_cfg(dataset, tmp_path / "fp32", **kw), **QUIET)
    train(_cfg(dataset, tmp_path / "bf16", mixed_precision="bf16", **kw), **QUIET)  # accelerate's autocast
    fp32 = [r["loss"] for r in read_log(tmp_path / "fp32" / "log.csv")]
    bf16 = [r["loss"] for r in read_log(tmp_path / "bf16" / "log.csv")]
    assert fp32 != bf16 and np.allclose(bf16, fp32, rtol=2e-2)
