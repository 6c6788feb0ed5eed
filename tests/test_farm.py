"""``melfoley batch --ray`` on a real two-node Ray cluster on loopback, started and stopped here.

The cluster: ``ray start --head`` plus a second ``ray start --address`` worker node, one CPU
each, every node at ``--node-ip-address 127.0.0.1`` (nothing bound elsewhere; no dashboard, no
usage stats). Ray 2.60 replaces a loopback node address by the LAN one and refuses multi-node
clusters when told not to, so the two ``ray start`` processes run Ray's own CLI with that one
substitution switched off (``_LAUNCH``). The test module owns every process of the cluster
(one process group per node) and stops them at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest

# the test cluster listens on loopback only and takes no token (set before Ray is imported; the nodes inherit it)
os.environ["RAY_AUTH_MODE"] = "disabled"
os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
pytest.importorskip("ray", reason="ray is not installed (pip install 'melfoley[farm]'); farm tests need it")

from melfoley.plugin.batch import BatchConfig, BatchRunner  # noqa: E402
from melfoley.plugin.cli import main  # noqa: E402
from melfoley.plugin.farm import PROBE_NAME, RayExecutor, check_access  # noqa: E402
from melfoley.plugin.jobs import BatchDefaults  # noqa: E402
from test_timeline_media import clip, edit, render_media, run_batch, stop_batch_cli  # noqa: E402

RATE = Fraction(25)
_LAUNCH = ("import sys, ray._private.services as s; s.resolve_ip_for_localhost = lambda h: h; "
           "from ray.scripts.scripts import main; sys.argv[0] = 'ray'; main()")


@dataclass
class Cluster:
    address: str
    media: Path
    groups: list[int]  # process groups of the nodes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_node(args: list[str], log: Path, env: dict) -> subprocess.Popen:
    cmd = [sys.executable, "-c", _LAUNCH, "start", "--node-ip-address", "127.0.0.1", "--num-cpus", "1",
           "--disable-usage-stats", "--block", *args]
    with open(log, "wb") as fh:
        return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _wait_started(proc: subprocess.Popen, log: Path, timeout: float = 90.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        text = log.read_text(errors="replace")
        if "Ray runtime started" in text:
            return
        if proc.poll() is not None:
            raise RuntimeError(f"ray start exited {proc.returncode}: {text[-2000:]}")
        time.sleep(0.3)
    raise RuntimeError(f"ray start did not come up in {timeout:.0f} s: {log.read_text(errors='replace')[-2000:]}")


def _stop_nodes(procs: list[subprocess.Popen]) -> None:
    """Each node's whole process group: SIGTERM, then SIGKILL for whatever is left after 3 s."""
    for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
        live = []
        for p in procs:
            try:
                os.killpg(p.pid, sig)
                live.append(p)
            except ProcessLookupError:
                pass
        end = time.monotonic() + wait
        while live and time.monotonic() < end:
            for p in list(live):
                p.poll()
                try:
                    os.killpg(p.pid, 0)
                except ProcessLookupError:
                    live.remove(p)
            time.sleep(0.2)
        if not live:
            return


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    base = Path(tempfile.mkdtemp(prefix="mf-ray-", dir="/tmp"))  # short: Ray's socket paths must fit 107 bytes
    media = render_media(tmp_path_factory.mktemp("farm_media"), "m.mp4", RATE, 4.0)
    port = _free_port()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("RAY_ADDRESS", None)
    nodes = []
    try:
        head = _start_node(["--head", "--port", str(port), "--include-dashboard=false", "--temp-dir", str(base)],
                           base / "head.log", env)
        nodes.append(head)
        _wait_started(head, base / "head.log")
        worker = _start_node(["--address", f"127.0.0.1:{port}"], base / "node2.log", env)
        nodes.append(worker)
        _wait_started(worker, base / "node2.log")
        yield Cluster(f"127.0.0.1:{port}", media, [p.pid for p in nodes])
    finally:
        _stop_nodes(nodes)
        shutil.rmtree(base, ignore_errors=True)


PROMPTS = ["footsteps on gravel", "door closing", "glass breaking"]


def _edit(tmp_path: Path, media: Path, n: int, frames: int = 10, **meta) -> Path:
    """``n`` clips; without ``meta`` they rotate prompts and the first has two takes."""
    items = [clip(f"shot {i + 1:02d}", media, (i * 7) % 80, frames, RATE, media_frames=100,
                  meta=meta or ({"takes": 2} if i == 0 else {"prompt": PROMPTS[i % 3]}))
             for i in range(n)]
    return edit(tmp_path / "farm.otio", [items], RATE, start_frames=90000)


def _masked(path: Path) -> bytes:
    """A stem's bytes with the two run-time stamps blanked: bext OriginationDate and OriginationTime
    (the wall clock at writing), and the sidecar's ``created``."""
    data = bytearray(path.read_bytes())
    if path.suffix == ".json":
        doc = json.loads(data)
        doc.pop("created")
        return json.dumps(doc, sort_keys=True).encode()
    pos = 12
    while pos + 8 <= len(data):
        cid, size = bytes(data[pos:pos + 4]), int.from_bytes(data[pos + 4:pos + 8], "little")
        if cid == b"bext":
            start = pos + 8 + 256 + 32 + 32
            data[start:start + 18] = b"\0" * 18
        pos += 8 + size + (size & 1)
    return bytes(data)


def _foley_tracks(timeline: Path) -> list[str]:
    tl = otio.adapters.read_from_file(str(timeline))
    return [otio.adapters.write_to_string(t, "otio_json") for t in tl.audio_tracks()]


def test_farm_stems_are_the_local_run_s_and_share_its_cache(cluster, tmp_path, monkeypatch, capsys):
    tl = _edit(tmp_path, cluster.media, 6)
    out = tmp_path / "out"
    local = run_batch(tl, out)
    assert local.ok and local.count("done") == 6
    out.rename(tmp_path / "local")
    monkeypatch.setenv("MELFOLEY_CACHE_DIR", str(tmp_path / "farm_cache"))  # an empty cache: render on the farm
    rc = main(["batch", str(tl), "-o", str(out), "--engine", "debug", "--ray", cluster.address, "--workers", "2",
               "--quiet"])
    cap = capsys.readouterr()
    assert rc == 0, cap
    assert "done 6, cached 0, failed 0" in cap.out and "2 workers on 2 node(s)" in cap.out
    farm_files = sorted(p.name for p in (out / "stems").iterdir())
    assert farm_files == sorted(p.name for p in (tmp_path / "local" / "stems").iterdir())
    assert len(farm_files) == 14  # 7 stems (the first clip has 2 takes), each with its sidecar
    for name in farm_files:
        assert _masked(out / "stems" / name) == _masked(tmp_path / "local" / "stems" / name), name
    # the output timeline's Foley tracks are the same; only the driver wrote it (and the report)
    (tmp_path / "local" / "farm.foley.otio").rename(tmp_path / "local.otio")
    assert _foley_tracks(out / "farm.foley.otio") == _foley_tracks(tmp_path / "local.otio")
    report = json.loads((out / "farm.foley.report.json").read_text())
    assert [c["status"] for c in report["clips"]] == ["done"] * 6
    assert not list(out.glob(PROBE_NAME))
    # the farm filled the same content-hash cache a laptop uses: a local run elsewhere renders nothing
    again = run_batch(tl, tmp_path / "laptop")
    assert again.ok and again.count("cached") == 6


def test_a_worker_killed_mid_run_is_restarted_and_its_clip_done_once(cluster, tmp_path):
    tl = _edit(tmp_path, cluster.media, 12, prompt="metal impact")
    killed = []

    def progress(p):
        if p.done >= 2 and not killed:
            pid = runner.executor.nodes[0]["pid"]
            os.kill(pid, signal.SIGKILL)  # the worker process, while it has clips in hand
            killed.append(pid)

    cfg = BatchConfig(timeline=tl, out_dir=tmp_path / "out", defaults=BatchDefaults(engine="debug"))
    runner = BatchRunner(cfg, progress=progress, executor=RayExecutor.factory(cluster.address, 2))
    report = runner.run()
    assert killed and report.ok, report.to_dict()
    assert any("died (attempt 1 of 3)" in n for n in report.notes), report.notes
    assert any("attempt 2" in n for c in report.clips for n in c.notes)
    ids = [c.clip_id for c in report.clips]
    assert len(ids) == 12 and len(set(ids)) == 12 and {c.status for c in report.clips} <= {"done", "cached"}
    visible = sorted(p for p in (tmp_path / "out" / "stems").iterdir() if not p.name.startswith("."))
    wavs = [p for p in visible if p.suffix == ".wav"]
    assert len(wavs) == 12 and len(visible) == 24  # each clip's stem once, each with its sidecar
    for w in wavs:  # whole files: the RIFF size matches the file
        data = w.read_bytes()
        assert int.from_bytes(data[4:8], "little") + 8 == len(data)
    tl_out = otio.adapters.read_from_file(report.output_timeline)
    assert len(list(tl_out.find_clips())) == 12 + 12  # 12 picture clips, 12 stems


def test_ctrl_c_on_the_driver_leaves_a_valid_partial_timeline_and_a_rerun_completes(cluster, tmp_path):
    tl = _edit(tmp_path, cluster.media, 20, frames=15, prompt="footsteps on wood")
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "melfoley.plugin.cli", "batch", str(tl), "-o", str(out), "--engine", "debug",
           "--ray", cluster.address, "--workers", "2", "--quiet"]
    # SIGINT inherited ignored, as from a render manager's wrapper: before cli.stop_on_signals the run
    # then went on to the end and exited 0
    rc, stdout, stderr = stop_batch_cli(cmd, out, "SIGINT")
    assert rc == 130, (stdout, stderr)
    assert b"rerun to finish" in stdout and b"Traceback" not in stderr
    partial = otio.adapters.read_from_file(str(out / "farm.foley.otio"))
    assert partial.metadata["melfoley"]["complete"] is False
    placed = [c for t in partial.audio_tracks() for c in t.find_clips()]
    assert all(Path(c.metadata["melfoley"]["sidecar"]).exists() for c in placed)
    report = json.loads((out / "farm.foley.report.json").read_text())
    assert report["interrupted"] and len(report["clips"]) < 20
    finished = len(report["clips"])
    rerun = run_batch(tl, out)  # here, on the laptop: the stems and the cache are the farm's
    assert rerun.ok and len(rerun.clips) == 20 and rerun.count("cached") >= finished
    done = otio.adapters.read_from_file(rerun.output_timeline)
    assert done.metadata["melfoley"]["complete"] is True
    assert sum(1 for t in done.audio_tracks() for _ in t.find_clips()) == 20


def _refused(argv: list[str], capsys) -> tuple[str, float]:
    t = time.perf_counter()
    rc = main(argv)
    took = time.perf_counter() - t
    err = capsys.readouterr().err
    assert rc == 2, err
    return err, took


def test_a_bad_address_or_missing_resources_fail_within_seconds(cluster, tmp_path, capsys):
    tl = _edit(tmp_path, cluster.media, 2)
    base = ["batch", str(tl), "-o", str(tmp_path / "out"), "--engine", "debug", "--quiet", "--ray"]
    err, took = _refused(base + [f"127.0.0.1:{_free_port()}"], capsys)
    assert "no Ray cluster at 127.0.0.1:" in err and "ray start --head" in err and took < 10
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    with socket.socket() as srv:  # something listens, but it is not a Ray head node
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        err, took = _refused(base + [f"127.0.0.1:{srv.getsockname()[1]}"], capsys)
    assert "not as a Ray head node" in err and took < 10
    err, took = _refused(base + ["nonsense"], capsys)
    assert "HOST:PORT" in err and took < 10
    err, took = _refused(base + [cluster.address, "--workers", "5"], capsys)
    assert "2 CPUs for 5 worker(s)" in err and "--workers 2" in err and took < 10
    err, took = _refused(base[:5] + ["paper", "--quiet", "--ray", cluster.address], capsys)
    assert "needs one GPU per worker" in err and "0 GPUs" in err and took < 10
    assert not (tmp_path / "out" / "farm.foley.otio").exists()  # refused before anything was written


def test_the_preflight_names_each_file_a_node_cannot_see(tmp_path):
    """What every worker runs before the first clip (here in this process: on one machine every
    node sees the same files, so a node that cannot is made by hand)."""
    out = tmp_path / "out"
    out.mkdir()
    (out / PROBE_NAME).write_text("token")
    media = tmp_path / "m.bin"
    media.write_bytes(b"x" * 10)
    assert check_access({str(media): 10}, str(out), "token", [str(out / "stems")]) == []
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    problems = check_access({str(media): 11, str(tmp_path / "gone.mp4"): 5}, str(out), "other",
                            [str(blocker / "stems")])
    assert len(problems) == 4
    assert "is 10 bytes here but 11 bytes on the driver" in problems[0]
    assert "cannot read the media" in problems[1] and "gone.mp4" in problems[1]
    assert "is not the driver's" in problems[2] and str(out) in problems[2]
    assert "cannot write in" in problems[3] and "a_file" in problems[3]


def _listening(groups: list[int]) -> list[str]:
    """Local addresses of the TCP sockets that processes of these process groups listen on (Linux /proc)."""
    inodes = set()
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            if int((d / "stat").read_text().rsplit(")", 1)[1].split()[2]) not in groups:
                continue
            for fd in (d / "fd").iterdir():
                link = os.readlink(fd)
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except (OSError, IndexError, ValueError):
            continue
    found = []
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            f = line.split()
            if f[3] == "0A" and f[9] in inodes:  # LISTEN
                found.append(f[1])
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux /proc to list listening sockets")
def test_the_cluster_listens_on_loopback_only(cluster):
    addrs = _listening(cluster.groups)
    assert addrs, "found none of the cluster's listening sockets"
    loopback = ("0100007F:", "0000000000000000FFFF00000100007F:")  # 127.0.0.1, as IPv4 and IPv4-mapped IPv6
    assert all(a.startswith(loopback) for a in addrs), addrs
