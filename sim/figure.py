"""matplotlib's pyplot for rbsim's figures, with the backend chosen once, when the first figure is made.

Commands write PNG files, so they draw with the file-only Agg backend (no display needed). If pyplot
is already loaded (a notebook's inline backend, a user's GUI), its backend is kept, so figures show there.
"""

from __future__ import annotations

import sys


def pyplot():
    """The ``matplotlib.pyplot`` module; selects Agg first unless pyplot was already loaded."""
    if "matplotlib.pyplot" not in sys.modules:
        import matplotlib

        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt
