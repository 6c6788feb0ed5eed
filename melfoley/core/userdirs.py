"""The user's folders (config, cache, models) through platformdirs.

Each can be moved with an environment variable, which is how tests and farms point
melfoley at scratch or shared storage: ``MELFOLEY_CONFIG_DIR``, ``MELFOLEY_CACHE_DIR``,
``MELFOLEY_MODELS_DIR``, ``MELFOLEY_DATA_DIR``, ``MELFOLEY_LIBRARY_DB`` (the sound-library index).
"""

from __future__ import annotations

import os
from pathlib import Path

APP = "melfoley"


def _dir(env: str, default) -> Path:
    value = os.environ.get(env)
    path = Path(value).expanduser() if value else Path(default())
    return path


def config_dir() -> Path:
    import platformdirs

    return _dir("MELFOLEY_CONFIG_DIR", lambda: platformdirs.user_config_dir(APP))


def cache_dir() -> Path:
    import platformdirs

    return _dir("MELFOLEY_CACHE_DIR", lambda: platformdirs.user_cache_dir(APP))


def models_dir() -> Path:
    import platformdirs

    return _dir("MELFOLEY_MODELS_DIR", lambda: Path(platformdirs.user_data_dir(APP)) / "models")


def data_dir() -> Path:
    import platformdirs

    return _dir("MELFOLEY_DATA_DIR", lambda: platformdirs.user_data_dir(APP))


def library_db() -> Path:
    """The sound-library index (``MELFOLEY_LIBRARY_DB`` or ``<data dir>/library/index.sqlite``)."""
    return _dir("MELFOLEY_LIBRARY_DB", lambda: data_dir() / "library" / "index.sqlite")
