"""Package data: vocabulary, embedded weights, sample edit. Use :func:`resource_path`."""

from pathlib import Path

RESOURCES_DIR = Path(__file__).resolve().parent


def resource_path(*parts: str) -> Path:
    """Path of a file shipped in ``melfoley/resources``."""
    return RESOURCES_DIR.joinpath(*parts)
