"""The paper engine through the facade: clear errors without weights or GPU, fallback, and an
end-to-end run on CPU with tiny random weights over a real corpus video."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from melfoley.core.engine import FoleyRequest, get_engine
from melfoley.core.engines.embedded import REQUIRED, default_weights_dir
from melfoley.core.engines.paper import PaperEngine
from melfoley.core.errors import MelfoleyError, WeightsError
from melfoley.core.paper.tiny import save_tiny_weights


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(autouse=True)
def _no_user_models(tmp_path, monkeypatch):
    """Hermetic: the default weights folder (<models dir>/paper) is an empty scratch folder."""
    monkeypatch.setenv("MELFOLEY_MODELS_DIR", str(tmp_path / "models"))


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    return save_tiny_weights(tmp_path_factory.mktemp("paper") / "weights")


@pytest.fixture(scope="module")
def engine(weights):
    return PaperEngine(weights, device="cpu", steps=2)


@pytest.fixture(scope="module")
def video(corpus):
    path = corpus / "video" / "bigbuckbunny.mp4"
    if not path.exists():
        pytest.skip(f"{path} not in the corpus")
    return path


def test_without_weights_the_message_says_what_to_do():
    with pytest.raises(MelfoleyError, match="needs its weights: pass --weights DIR"):
        get_engine("paper")


def test_weights_in_the_models_folder_are_found(tmp_path, monkeypatch):
    (tmp_path / "models" / "paper").mkdir(parents=True)
    with pytest.raises(WeightsError, match=r"weights in .*models/paper are incomplete; missing: vae/"):
        get_engine("paper")


def test_incomplete_weights_are_listed(tmp_path):
    (tmp_path / "unet").mkdir()
    with pytest.raises(WeightsError, match=r"missing: vae/, text_encoder/, tokenizer/, unet/\*.safetensors"):
        PaperEngine(tmp_path)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without a GPU")
def test_without_a_gpu_the_message_says_so(weights):
    with pytest.raises(MelfoleyError, match="needs a CUDA GPU"):
        get_engine("paper", weights=str(weights))


def test_fallback_only_when_asked():
    embedded_ready = all((default_weights_dir() / f).exists() for f in REQUIRED)
    if embedded_ready:
        with pytest.warns(RuntimeWarning, match="using the embedded engine"):
            eng = get_engine("paper", fallback=True)
        assert eng.name == "embedded"
    else:  # the fallback is attempted, and both reasons are reported
        with pytest.raises(MelfoleyError, match=r"paper engine unavailable .*embedded fallback failed"):
            get_engine("paper", fallback=True)
    with pytest.raises(MelfoleyError, match="needs its weights"):
        get_engine("paper", fallback=False)
    with pytest.raises(MelfoleyError, match="needs its weights"):
        get_engine("paper", fallback="false")


def test_generate_from_a_real_video_on_cpu(engine, video):
    req = FoleyRequest(video, start=1.0, duration=0.6, prompt="bunny hops on grass", takes=2, seed=5, clip_id="c1")
    steps = []
    takes = engine.generate([req], progress=lambda d, n, m: steps.append((d, n)))[0]
    assert len(takes) == 2 and steps[-1] == (2, 2)
    for t in takes:
        assert t.sample_rate == 16000 and t.audio.shape == (9600,) and np.all(np.isfinite(t.audio))
        assert t.control.mel == "auffusion16k" and t.control.frames == 60
        assert t.metadata["engine"] == "paper" and t.metadata["prompt"] == req.prompt
    assert [t.seed for t in takes] == [5, 6]
    assert np.abs(takes[0].audio - takes[1].audio).max() > 1e-4  # seeds matter
    # the control is V2X's reading of the picture: another moment of the film reads differently
    # (random V2X weights: E and D mostly clip to 0, so compare the features and the codes)
    late = FoleyRequest(video, start=3.5, duration=0.6, prompt="x")
    f_early = engine.visual_encoder().encode(engine.frames(req))
    f_late = engine.visual_encoder().encode(engine.frames(late))
    assert f_early.shape == (15, 16) and not torch.allclose(f_early, f_late, atol=1e-3)
    assert engine.predict(late) != takes[0].control


def test_energy_override_and_decoded_frames(engine, video):
    from melfoley.core.video import read_frames

    got = read_frames(video, 0.0, 0.4, size=224, fps=None)
    curve = np.linspace(0, 1, 40, dtype=np.float32)
    req = FoleyRequest(None, 0.0, 0.4, "door knock", frames=got.frames, frame_rate=got.fps, energy=curve)
    take = engine.generate([req])[0][0]
    np.testing.assert_allclose(take.control.energy, curve, atol=1e-6)
    assert take.audio.shape == (6400,)


def test_weights_identity_follows_the_content(weights, tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    from melfoley.core.paper.weights import content_id

    copy = tmp_path / "w"
    shutil.copytree(weights, copy)
    first = content_id(copy)
    assert first == content_id(copy) == content_id(weights)  # same bytes, same identity (cached by path/size/mtime)
    f = copy / "controlnet" / "diffusion_pytorch_model.safetensors"
    from safetensors import safe_open

    with safe_open(str(f), "pt") as fh:
        header = fh.metadata()
    state = load_file(f)
    state["controlnet_mid_block.weight"] = state["controlnet_mid_block.weight"] + 1.0  # "retrained", same shape
    size = f.stat().st_size
    save_file(state, f, metadata=header)
    assert f.stat().st_size == size and content_id(copy) != first


def test_v2x_trained_on_other_features_is_refused(weights, tmp_path):
    import json
    import shutil

    copy = tmp_path / "w"
    shutil.copytree(weights, copy)
    meta = copy / "v2x" / "features.json"
    meta.write_text(json.dumps({"kind": "efficientnet-lite0", "visual_encoder": "0123456789abcdef"}))
    with pytest.raises(WeightsError, match="trained on features of the visual encoder 0123456789abcdef"):
        PaperEngine(copy, device="cpu")
    meta.write_text(json.dumps({"kind": "synchformer"}))
    with pytest.raises(WeightsError, match="'synchformer' features, which melfoley cannot compute"):
        PaperEngine(copy, device="cpu")


def test_paper_check_and_import_an_auffusion_style_folder(weights, tmp_path, capsys):
    """A folder as Auffusion publishes it (pickled .bin weights, vocoder.pt, no ControlNet yet)."""
    import shutil

    from safetensors.torch import load_file

    from melfoley.plugin.cli import main

    root = tmp_path / "auffusion"
    for part in ("vae", "unet", "text_encoder", "tokenizer", "scheduler"):
        shutil.copytree(weights / part, root / part)
    for part, name, pickle in (("vae", "diffusion_pytorch_model", "diffusion_pytorch_model.bin"),
                               ("unet", "diffusion_pytorch_model", "diffusion_pytorch_model.bin"),
                               ("text_encoder", "model", "pytorch_model.bin")):
        f = root / part / f"{name}.safetensors"
        torch.save(load_file(f), root / part / pickle)
        f.unlink()
    (root / "vocoder").mkdir()
    shutil.copy(weights / "vocoder" / "config.json", root / "vocoder" / "config.json")
    torch.save({"generator": load_file(weights / "vocoder" / "model.safetensors")}, root / "vocoder" / "vocoder.pt")
    assert main(["paper", "check", str(root)]) == 1
    out = capsys.readouterr().out
    assert "convert    unet/" in out and "Auffusion's vocoder.pt" in out and "missing    controlnet/" in out
    assert main(["paper", "import", str(root)]) == 0
    out = capsys.readouterr().out
    assert "ok         unet/" in out and "ok         vocoder/" in out and "train controlnet/adapter on it: yes" in out
    shutil.copytree(weights / "controlnet", root / "controlnet")
    from melfoley.core.paper.weights import load_pipeline

    pipe = load_pipeline(root)  # the imported folder loads, tensors strictly matched
    torch.testing.assert_close(pipe.vocoder.conv_pre.weight, PaperEngine(weights, device="cpu").pipe.vocoder.conv_pre.weight)
