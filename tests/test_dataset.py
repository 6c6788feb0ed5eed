"""`melfoley dataset build` on the corpus videos: clips, QCD targets, features, skips with reasons,
the split by source video, resumability, the VGGSound / AVSync15 / folder layouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from melfoley.core.errors import MelfoleyError
from melfoley.core.paper.dataset import ClipDataset, load_manifest
from melfoley.core.paper.dataset_sources import assign_splits, list_sources
from paper_data import tiny_dataset

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, corpus):
    return tiny_dataset(tmp_path_factory, corpus)


def test_clips_and_their_targets(dataset, corpus):
    from melfoley.core import qcd
    from melfoley.core.mel import log_mel

    m = load_manifest(dataset)
    assert m["counts"] == {"train": 2, "val": 2}
    train = ClipDataset(dataset, "train")
    clip = train[1]
    assert clip["audio"].shape == (20480,) and clip["mel"].shape == (256, 128)
    assert clip["codes"].shape == (2, 128) and clip["energy"].shape == clip["spread"].shape == (128,)
    assert clip["features"].shape == (32, 16) and clip["clip"].shape == (16,)  # 25 fps x 1.28 s; tiny encoders
    assert clip["label"] == "bunny hops on grass" and float(clip["audio"].abs().max()) == pytest.approx(0.95, abs=1e-3)
    # the targets are the QCD decomposition of the stored audio's mel (fp16 storage tolerance)
    mel = log_mel(clip["audio"].numpy(), "auffusion16k")
    np.testing.assert_allclose(clip["mel"].numpy(), mel.numpy(), atol=0.05)
    e, d, s = qcd.decompose(clip["mel"], "auffusion16k")
    assert float((qcd.encode(s) == clip["codes"]).float().mean()) > 0.97
    torch.testing.assert_close(clip["energy"], e.float(), atol=2e-3, rtol=0)
    # and the audio is the film's own sound at 1.28 s (clip 1), peak-normalised
    from melfoley.core.paper.dataset import read_media_audio

    wave = read_media_audio(corpus / "video" / "bigbuckbunny.mp4")[20480:40960]
    ref = wave / np.abs(wave).max() * 0.95
    assert np.corrcoef(ref, clip["audio"].numpy())[0, 1] > 0.999
    # the features read the picture: the two clips of the film differ
    assert not torch.allclose(train[0]["features"], clip["features"], atol=1e-3)


def test_bad_sources_are_skipped_with_the_reason(dataset):
    from pathlib import Path

    reasons = {(Path(s["video"]).name, Path(s["audio"]).name if s["audio"] else ""): s["reason"]
               for s in load_manifest(dataset)["skipped"]}
    assert len(reasons) == 3
    assert reasons[("linear_speed_effects_aaf.mov", "")].startswith("silent")
    assert reasons[("misc_speed_effects_aaf.mov", "")] == "no audio stream"
    (short,) = [v for (video, audio), v in reasons.items() if video == "bigbuckbunny.mp4"]
    assert short.startswith("too short")


def test_split_is_by_source_video(dataset):
    clips = load_manifest(dataset)["clips"]
    train = {c["video"] for c in clips if c["split"] == "train"}
    val = {c["video"] for c in clips if c["split"] == "val"}
    assert train and val and not train & val
    # without a split column, all rows of one video land on the same side
    rows = [r for r in list_sources(dataset.parent / "sources.csv")]
    dup = rows + [type(rows[0])(rows[0].video, rows[1].audio, "again")]
    split = assign_splits([type(r)(r.video, r.audio, r.label) for r in dup], 0.5, seed=3)
    by_video = {}
    for r in split:
        by_video.setdefault(r.video, set()).add(r.split)
    assert all(len(s) == 1 for s in by_video.values())


def test_resume_builds_only_what_is_missing(dataset, tmp_path, corpus):
    import shutil

    from melfoley.core.paper.dataset import DatasetConfig, build_dataset
    from paper_data import TINY

    m = load_manifest(dataset)
    copy = tmp_path / "ds"
    shutil.copytree(dataset, copy)
    cfg = DatasetConfig(**{**m["config"]})
    logs = []
    again = build_dataset(dataset.parent / "sources.csv", copy, cfg, log=logs.append)
    assert "0 to build" in logs[0] and again["clips"] == m["clips"]
    victim = copy / "shards" / f"{m['shards'][-1]}.json"
    victim.unlink()
    logs.clear()
    again = build_dataset(dataset.parent / "sources.csv", copy, cfg, log=logs.append)
    assert "1 to build" in logs[0] and again["clips"] == m["clips"]
    with pytest.raises(MelfoleyError, match="built with other settings"):
        build_dataset(dataset.parent / "sources.csv", copy, DatasetConfig(**{**m["config"], "clip_seconds": 2.0}))
    assert TINY["clip_seconds"] == m["config"]["clip_seconds"]


def test_source_layouts(tmp_path, corpus):
    video = corpus / "video" / "bigbuckbunny.mp4"
    # AVSync15: videos/<class>/<file> + train.txt / test.txt
    (tmp_path / "videos" / "dog_barking").mkdir(parents=True)
    (tmp_path / "videos" / "dog_barking" / "a.mp4").symlink_to(video)
    (tmp_path / "test.txt").write_text("dog_barking/a.mp4\ndog_barking/missing.mp4\n")
    rows = list_sources(tmp_path / "test.txt")
    assert [(r.label, r.split, bool(r.missing)) for r in rows] == [("dog barking", "val", False),
                                                                   ("dog barking", "val", True)]
    # a folder with class sub-folders
    assert [r.label for r in list_sources(tmp_path / "videos")] == ["dog barking"]
    # VGGSound's headerless CSV: id, start, label, split; the file is <id>_<start:06d>.mp4
    (tmp_path / "video").mkdir()
    (tmp_path / "video" / "abc123_000030.mp4").symlink_to(video)
    (tmp_path / "vggsound.csv").write_text("abc123,30,dog barking,test\nzzz,10,cat meowing,train\n")
    rows = list_sources(tmp_path / "vggsound.csv")
    assert rows[0].video.name == "abc123_000030.mp4" and rows[0].split == "val" and not rows[0].missing
    assert "no video for VGGSound row zzz" in rows[1].missing
    with pytest.raises(MelfoleyError, match="does not exist"):
        list_sources(tmp_path / "nothing.csv")


def test_cli_builds_and_reports(tmp_path, corpus, capsys):
    from melfoley.plugin.cli import main
    from paper_data import tiny_encoders

    ve, _ = tiny_encoders(tmp_path)
    src = tmp_path / "src"
    src.mkdir()
    (src / "silent.mov").symlink_to(corpus / "video" / "linear_speed_effects_aaf.mov")
    (src / "broken.mp4").write_bytes(b"not a video at all" * 100)
    assert main(["dataset", "build", str(src), "-o", str(tmp_path / "ds"), "--visual-encoder", str(ve),
                 "--clip-seconds", "1.28"]) == 0
    out = capsys.readouterr().out
    assert "0 train and 0 val clips" in out and "silent.mov: silent" in out and "broken.mp4: undecodable" in out


def test_parallel_workers_build_the_same_dataset(dataset, tmp_path):
    from melfoley.core.paper.dataset import DatasetConfig, build_dataset

    m = load_manifest(dataset)
    par = build_dataset(dataset.parent / "sources.csv", tmp_path / "par", DatasetConfig(**m["config"]), workers=2,
                        log=lambda *a: None)
    assert par["clips"] == m["clips"] and par["skipped"] == m["skipped"]
    a, b = ClipDataset(dataset, "val")[1], ClipDataset(tmp_path / "par", "val")[1]
    torch.testing.assert_close(a["features"], b["features"])
    torch.testing.assert_close(a["audio"], b["audio"])
