"""Fixtures of the hostile suite: one short real picture shared by the module, and the CLI runner."""

from __future__ import annotations

import pytest

from inputs import media as _media


@pytest.fixture(scope="module")
def pic(tmp_path_factory):
    return _media(tmp_path_factory.mktemp("pic"))


@pytest.fixture
def cli(capsys):
    """``melfoley ARGS`` in process: (exit code, stdout, stderr); never a traceback."""
    from melfoley.plugin.cli import main

    def run(*args):
        rc = main([str(a) for a in args])
        cap = capsys.readouterr()
        assert "Traceback" not in cap.err + cap.out, cap.err
        return rc, cap.out, cap.err

    return run
