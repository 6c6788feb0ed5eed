"""The PySide6 panel (dockable widget and standalone window)."""
