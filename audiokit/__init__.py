"""audiokit: composable Unix-style commands for audio classification.

The library is usable without the CLI::

    >>> from audiokit.audio import load
    >>> from audiokit.features import FeatureConfig, extract

Heavy dependencies (librosa, torch, h5py) are imported by the modules that use
them, never here, so that ``audiokit --help`` starts fast.
"""

__version__ = "0.1.0"
