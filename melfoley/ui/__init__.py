"""The PySide6 panel (dockable widget and standalone window).

PySide6 6.12.0 built for Python 3.11 releases a reference to ``None`` on every call of a
C++ method that returns nothing, so any long-lived panel dies with "deallocating None"
after a few minutes of painting. Refuse it up front with the fix, rather than crash later.
"""

import sys


def _check_pyside() -> None:
    try:
        import PySide6
    except ImportError:
        return
    if sys.version_info < (3, 12) and PySide6.__version__.startswith("6.12."):
        from melfoley.core.errors import MelfoleyError

        raise MelfoleyError(
            f"PySide6 {PySide6.__version__} corrupts Python {sys.version_info.major}.{sys.version_info.minor}'s "
            "reference to None and crashes the panel; install an earlier one: "
            "pip install 'PySide6-Essentials<6.12' 'shiboken6<6.12'")


_check_pyside()
