"""``melfoley paper check DIR`` / ``melfoley paper import DIR``: what a local paper-tier folder holds
(and misses), and Auffusion's pickled files rewritten as safetensors (see core/paper/check.py)."""

from __future__ import annotations

from pathlib import Path


def add_parser(sub):
    p = sub.add_parser("paper", help="check a paper-tier weights folder, or import Auffusion's published files",
                       description="check: list each part of a local diffusers folder (base model from "
                                   "auffusion/auffusion-full-no-adapter, trained parts from melfoley train) and what "
                                   "is missing. import: rewrite its pickled weights as safetensors.")
    s = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, text in (("check", "say what DIR holds and what is missing"),
                       ("import", "write safetensors beside the folder's .bin/.pt weights (originals kept)")):
        a = s.add_parser(name, help=text)
        a.add_argument("dir", type=Path)
    return p


def run(args) -> int:
    from melfoley.core.paper.check import BASE, PARTS, import_folder, inspect_folder

    if args.action == "import":
        written = import_folder(args.dir)
        print(f"{len(written)} files written" if written else "nothing to import: no pickled weights found")
    reports = inspect_folder(args.dir)
    for r in reports:
        what, use = PARTS[r.name]
        extra = f" ({r.note})" if r.note else ""
        print(f"{r.state:<10} {r.name + '/':<16} {what}; {use}{extra}")
    state = {r.name: r.state for r in reports}
    can_render = all(state[n] == "ok" for n in (*BASE, "controlnet"))
    can_train = all(state[n] == "ok" for n in BASE[:4])
    can_predict = state["v2x"] == "ok" and state["visual_encoder"] == "ok"
    print(f"render: {'yes' if can_render else 'no'}; train controlnet/adapter on it: {'yes' if can_train else 'no'}; "
          f"predict from picture: {'yes' if can_predict else 'no'}")
    return 0 if can_render or can_train else 1
