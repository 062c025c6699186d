"""audiokit: composable Unix-style commands for audio classification.

The library is usable without the CLI::

    >>> from audiokit.audio import load
    >>> from audiokit.features import FeatureConfig, extract

Heavy dependencies (librosa, torch, h5py) are imported by the modules that use
them, never here, so that ``audiokit --help`` starts fast.
"""

import time as _time

__version__ = "0.1.0"

#: When audiokit was first imported: the commands' closing summaries give wall time from here,
#: so the seconds a user waits for imports and model loading are counted.
_STARTED = _time.perf_counter()


def elapsed() -> float:
    """Seconds since audiokit was first imported in this process (the wall time a command's
    summary reports)."""
    return _time.perf_counter() - _STARTED
