"""User folders come from platformdirs and move with environment variables."""

from pathlib import Path

from melfoley.core import userdirs


def test_env_overrides_and_platform_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("MELFOLEY_MODELS_DIR", str(tmp_path / "m"))
    assert userdirs.models_dir() == tmp_path / "m"
    monkeypatch.delenv("MELFOLEY_CACHE_DIR", raising=False)
    import platformdirs

    assert userdirs.cache_dir() == Path(platformdirs.user_cache_dir("melfoley"))
    monkeypatch.delenv("MELFOLEY_CONFIG_DIR", raising=False)
    assert userdirs.config_dir() == Path(platformdirs.user_config_dir("melfoley"))
