"""``featurize --like FILE``: the feature settings recorded in a store or a model file.

A model file carries the :class:`~audiokit.features.FeatureConfig` of the store it was
trained on, and a store its own; ``featurize test/ --like train.h5`` (or ``--like
model.h5``) featurizes a test set with exactly those settings — the whole configuration
object, every field included (the duration as it was resolved, e.g. by ``--duration auto``),
so settings added to :class:`FeatureConfig` later are copied too. Labels, groups and the
other options of a run are not feature settings and are not copied.
"""

from __future__ import annotations

from audiokit.features import FeatureConfig


def feature_config_of(path: str) -> FeatureConfig:
    """The feature configuration recorded in a store or a model file.

    Only the file's attributes are read for a model (no weights); a store is validated as
    ``open_store`` validates it.

    Raises
    ------
    StoreError, ModelFileError
        The file is missing, unreadable, not HDF5, not an audiokit store or model, of a newer
        format version, or its configuration cannot be read (exit 1), naming the file.
    """
    import json

    from audiokit import modelfile
    from audiokit import store as store_mod
    from audiokit.errors import ModelFileError, StoreError
    from audiokit.io import h5_text, open_h5

    h5, name = open_h5(path, what="store or model file")
    with h5:
        fmt = h5_text(h5.attrs.get("format"))
        if fmt == store_mod.FORMAT:
            return store_mod.Store(h5, name).config
        if fmt != modelfile.FORMAT:
            raise StoreError("not an audiokit store or model file", path=name)
        try:
            version = int(h5.attrs.get("format_version", 0))
        except (TypeError, ValueError):
            raise ModelFileError("unreadable model metadata (format_version)", path=name) from None
        if version > modelfile.FORMAT_VERSION:
            raise ModelFileError(f"model format version {version} is newer than this audiokit reads "
                                 f"({modelfile.FORMAT_VERSION}); upgrade audiokit", path=name)
        try:
            return FeatureConfig.from_dict(json.loads(h5_text(h5.attrs["feature_config"])))
        except Exception as exc:
            raise ModelFileError(f"unreadable feature configuration ({type(exc).__name__}: {exc})",
                                 path=name) from exc
