"""Package data: vocabulary, embedded weights, sample edit, starter sound library (under ``RESOURCES_DIR``)."""

from pathlib import Path

RESOURCES_DIR = Path(__file__).resolve().parent
