"""DaVinci Resolve (18.5+, scripting API): foley the current timeline from Workspace > Scripts.

Host side: standard library only. The steps, each on a documented call:

1. ``Timeline.Export(path, resolve.EXPORT_OTIO, resolve.EXPORT_NONE)`` writes the current
   timeline as OTIO (Resolve 18.5 added ``EXPORT_OTIO``).
2. melfoley's batch runs in melfoley's Python (``melfoley host run ... --window``): its own
   progress window with Cancel, and the failed clips listed at the end.
3. The stems go into a ``melfoley`` bin (``MediaPool.AddSubFolder`` under the root folder,
   ``SetCurrentFolder``, ``ImportMedia``), and each ``FOLEY ...`` track of melfoley's output
   becomes a new mono audio track (``Timeline.AddTrack("audio", "mono")``, ``SetTrackName``;
   alternate takes ``SetTrackEnable(..., False)``) filled by ``MediaPool.AppendToTimeline``
   with one clipInfo per stem: ``mediaPoolItem``, ``startFrame`` / ``endFrame`` (inclusive,
   frames inside the stem), ``trackIndex``, ``recordFrame`` (absolute timeline frame, from
   ``Timeline.GetStartFrame()``) and ``mediaType`` 2 (audio only).

Placing into the open timeline (rather than ``MediaPool.ImportTimelineFromFile`` of the
Foley edit) keeps the artist in their own timeline, and the positions are exact: record
frames are the integer frames of the edit Resolve exported, taken back unchanged.
"""

from __future__ import annotations

from pathlib import Path

from .bridge import BridgeError, ChildBatch, Settings, batch_command, describe_failures, load_env, output_root
from .bridge import read_foley_edit, safe_name

BIN_NAME = "melfoley"
MIN_VERSION = (18, 5)
AUDIO_ONLY = 2  # clipInfo mediaType: 1 video only, 2 audio only


def _version(resolve) -> tuple[int, int]:
    v = resolve.GetVersion()
    if isinstance(v, dict):  # some builds return Lua tables as {1: major, 2: minor, ...}
        v = [v[k] for k in sorted(v)]
    return int(v[0]), int(v[1])


def current(resolve):
    """(project, timeline) or BridgeError naming what to open."""
    if resolve is None:
        raise BridgeError("cannot reach DaVinci Resolve; run this from Workspace > Scripts inside Resolve")
    if _version(resolve) < MIN_VERSION:
        raise BridgeError(f"DaVinci Resolve {'.'.join(map(str, _version(resolve)))} cannot export OTIO; "
                          "melfoley needs Resolve 18.5 or later")
    project = resolve.GetProjectManager().GetCurrentProject()
    if not project:
        raise BridgeError("no project is open in Resolve; open one and try again")
    timeline = project.GetCurrentTimeline()
    if not timeline:
        raise BridgeError("no timeline is open; open the edit to foley on the Edit page and try again")
    return project, timeline


def export_timeline(resolve, timeline, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not timeline.Export(str(path), resolve.EXPORT_OTIO, resolve.EXPORT_NONE) or not path.exists():
        raise BridgeError(f"Resolve did not export timeline {timeline.GetName()!r} as OTIO to {path}; "
                          "check that the folder is writable")
    return path


def melfoley_bin(media_pool):
    root = media_pool.GetRootFolder()
    for folder in (root.GetSubFolderList() or []):
        if folder.GetName() == BIN_NAME:
            return folder
    folder = media_pool.AddSubFolder(root, BIN_NAME)
    if not folder:
        raise BridgeError(f"Resolve refused to create the media-pool bin {BIN_NAME!r}")
    return folder


def place(project, timeline, foley_edit) -> list[dict]:
    """The stems into the ``melfoley`` bin and onto new audio tracks; returns the clipInfos appended."""
    pool = project.GetMediaPool()
    pool.SetCurrentFolder(melfoley_bin(pool))
    paths = sorted({str(it.path) for tr in foley_edit.tracks for it in tr.items})
    if not paths:
        return []
    imported = pool.ImportMedia(paths) or []
    by_path = {}
    for item in imported:
        by_path[str(Path(item.GetClipProperty("File Path") or ""))] = item
    missing = [p for p in paths if str(Path(p)) not in by_path]
    if missing:
        raise BridgeError(f"Resolve did not import {len(missing)} stem(s), e.g. {missing[0]}; "
                          "check that the file exists and Resolve can read 48 kHz WAV")
    shift = int(timeline.GetStartFrame()) - foley_edit.start_frame  # 0 unless the timeline start moved
    placed = []
    for track in foley_edit.tracks:
        if not track.items:
            continue
        if not timeline.AddTrack("audio", "mono"):
            raise BridgeError(f"Resolve refused to add an audio track for {track.name!r}")
        index = int(timeline.GetTrackCount("audio"))
        timeline.SetTrackName("audio", index, track.name)
        if not track.enabled:  # alternate takes: on the timeline, silent until chosen
            timeline.SetTrackEnable("audio", index, False)
        infos = [{"mediaPoolItem": by_path[str(Path(it.path))], "startFrame": it.source_in,
                  "endFrame": it.source_in + it.frames - 1, "trackIndex": index,
                  "recordFrame": it.record_frame + shift, "mediaType": AUDIO_ONLY} for it in track.items]
        appended = pool.AppendToTimeline(infos) or []
        if len(appended) != len(infos):
            raise BridgeError(f"Resolve placed {len(appended)} of {len(infos)} stems on {track.name!r}")
        placed += infos
    return placed


def foley_current_timeline(resolve, record: str, *, settings: Settings | None = None, say=print) -> dict:
    """The whole round trip; returns the batch result with ``placed`` (clipInfos) added."""
    env = load_env(record)
    project, timeline = current(resolve)
    job = output_root(env, "resolve") / safe_name(project.GetName()) / safe_name(timeline.GetName())
    edit = export_timeline(resolve, timeline, job / f"{safe_name(timeline.GetName())}.otio")
    settings = settings or Settings(window=True)
    say(f"melfoley: foleying {timeline.GetName()!r} into {job / 'out'}")
    child = ChildBatch(batch_command(env, edit, job / "out", settings), job / "melfoley.log")
    result = child.run()
    failures = describe_failures(result)
    for line in failures:
        say(f"melfoley: FAILED {line}")
    if result["interrupted"]:
        say("melfoley: stopped; nothing placed. Run it again to finish (finished clips are kept).")
        result["placed"] = []
        return result
    result["placed"] = place(project, timeline, read_foley_edit(result["output_timeline"]))
    t = result["totals"]
    say(f"melfoley: {len(result['placed'])} stems placed; done {t['done']}, cached {t['cached']}, "
        f"failed {t['failed']}")
    return result


def entry(host_globals: dict, record: str) -> None:
    """What the Scripts-menu entry calls: find Resolve from the script's globals, then foley."""
    resolve = host_globals.get("resolve")
    if resolve is None and host_globals.get("app") is not None:
        resolve = host_globals["app"].GetResolve()
    if resolve is None and host_globals.get("bmd") is not None:
        resolve = host_globals["bmd"].scriptapp("Resolve")
    if resolve is None:
        try:  # run from outside the Scripts menu: Resolve's own module, if its path is set up
            import DaVinciResolveScript

            resolve = DaVinciResolveScript.scriptapp("Resolve")
        except ImportError:
            pass
    try:
        foley_current_timeline(resolve, record)
    except BridgeError as exc:
        print(f"melfoley: {exc}")
