"""The model file: one HDF5 file per trained model, of any kind.

Layout (``docs/model-format.md``)::

    /                 attrs: format="audiokit-model", format_version, kind, audiokit_version,
                             created, and JSON texts class_names, feature_config, params,
                             training, metrics
    /arrays/NAME      the fitted state as plain numeric arrays (nested groups allowed:
                      "scaler/mean", "state_dict/layer1.0.conv1.weight", ...)

The container knows no model kinds: :func:`audiokit.models.check_kind` refuses a kind this
audiokit does not know, and :func:`audiokit.models.from_modelfile` rebuilds the classifier.

Loading never executes code from the file: there is no pickle, joblib or torch.load
here; every dataset must be a plain numeric (or bool) array, links to other files are
refused (so are datasets stored in other files: external storage, virtual datasets), and each
dataset's size is checked against the file's before it is read.

Examples
--------
>>> import numpy as np, tempfile, os
>>> from audiokit.features import FeatureConfig
>>> p = os.path.join(tempfile.mkdtemp(), "m.h5")
>>> save_model(p, ModelFile(kind="knn", class_names=["a", "b"], feature_config=FeatureConfig(kind="mfcc-stats"),
...            arrays={"X": np.zeros((2, 40))}, params={"k": 1}))
>>> load_model(p).params
{'k': 1}
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import numpy as np

from audiokit import __version__
from audiokit.errors import ModelFileError, os_reason
from audiokit.features import FeatureConfig
from audiokit.io import atomic_output, h5_text, json_default, open_h5

FORMAT = "audiokit-model"
FORMAT_VERSION = 2
#: Largest total of array bytes a model file may claim relative to its size on disk (compression).
MAX_EXPANSION = 1000


@dataclass
class ModelFile:
    kind: str
    class_names: list[str]
    feature_config: FeatureConfig
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    #: What is needed to rebuild the model besides the arrays (k, metric, architecture...).
    params: dict = field(default_factory=dict)
    #: How it was trained (flags, seed, store, split).
    training: dict = field(default_factory=dict)
    #: The run's metrics (validation/CV figures, history summary).
    metrics: dict = field(default_factory=dict)
    version: int = FORMAT_VERSION
    audiokit_version: str = __version__
    created: str = ""
    path: str = ""


def save_model(path: str, mf: ModelFile) -> None:
    """Write ``mf`` to ``path`` atomically (``-``: to stdout).

    The HDF5 image is built in memory and then written to the target with plain file I/O:
    libhdf5 (2.0) cannot survive a failed write of its own (a full disk, a quota; it crashes
    when the file is closed), and a model is held in memory anyway. A failed write is one
    clean error and no file.
    """
    import io

    import h5py

    image = io.BytesIO()
    with h5py.File(image, "w") as h5:
        _write_h5(h5, mf, path)
    try:
        # seekable: /dev/null or a FIFO gets the bytes at the end, as stdout does
        with atomic_output(path, seekable=True) as target:
            if target.buffer is not None:
                target.file.write(image.getbuffer())
            else:
                with open(target.file, "wb") as f:
                    f.write(image.getbuffer())
    except OSError as exc:
        if exc.errno is None:
            raise
        raise ModelFileError(f"cannot write the model file: {os_reason(exc)}", path=path) from None


def _write_h5(h5, mf: ModelFile, path: str) -> None:
    a = h5.attrs
    a["format"] = FORMAT
    a["format_version"] = FORMAT_VERSION
    a["kind"] = mf.kind
    a["audiokit_version"] = __version__
    a["created"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    a["class_names"] = json.dumps(list(mf.class_names))
    a["feature_config"] = mf.feature_config.to_json()
    for key in ("params", "training", "metrics"):
        a[key] = json.dumps(getattr(mf, key), default=json_default)
    g = h5.create_group("arrays")
    for name, arr in mf.arrays.items():
        arr = np.asarray(arr)
        if arr.dtype.kind not in "biuf":
            raise ModelFileError(f"array {name!r} has non-numeric dtype {arr.dtype}", path=path)
        kw = dict(compression="gzip", compression_opts=4) if arr.size > 1024 else {}
        g.create_dataset(name, data=arr, **kw)


def load_model(path: str) -> ModelFile:
    """Read and validate a model file (``-``: from stdin).

    Raises
    ------
    ModelFileError
        Missing, not HDF5, truncated, not an audiokit model, a newer format version,
        links to other files, non-numeric datasets, or sizes the file cannot hold.
    """
    h5, name = open_h5(path, what="model file", error=ModelFileError)
    return from_h5(h5, name)


def from_h5(h5, name: str) -> ModelFile:
    """Validate and read an open HDF5 file as a model (closes it)."""
    import h5py

    try:
        with h5:
            a = h5.attrs
            fmt = h5_text(a.get("format"))
            if fmt != FORMAT:
                what = "an audiokit feature store, not a model" if fmt == "audiokit-store" else "not an audiokit model file"
                raise ModelFileError(what, path=name)
            version = int(a.get("format_version", 0))
            if version > FORMAT_VERSION:
                raise ModelFileError(f"model format version {version} is newer than this audiokit reads "
                                     f"({FORMAT_VERSION}); upgrade audiokit", path=name)
            try:
                mf = ModelFile(
                    kind=h5_text(a["kind"]),
                    class_names=_names(json.loads(h5_text(a["class_names"]))),
                    feature_config=FeatureConfig.from_json(h5_text(a["feature_config"])),
                    params=_object(json.loads(h5_text(a.get("params", "{}"))), "params"),
                    training=_object(json.loads(h5_text(a.get("training", "{}"))), "training"),
                    metrics=_object(json.loads(h5_text(a.get("metrics", "{}"))), "metrics"),
                    version=version,
                    audiokit_version=h5_text(a.get("audiokit_version", "?")),
                    created=h5_text(a.get("created", "")),
                    path=name,
                )
            except ModelFileError:
                raise
            except Exception as exc:
                raise ModelFileError(f"unreadable model metadata ({type(exc).__name__}: {exc})", path=name) from exc
            top = h5.get("arrays", getlink=True)
            if top is not None and not isinstance(top, h5py.HardLink):  # else its datasets are read from elsewhere
                raise ModelFileError("refusing link arrays: model files hold only their own arrays", path=name)
            if top is not None:
                budget = MAX_EXPANSION * max(_file_size(h5), 1 << 20)
                mf.arrays = _read_arrays(h5["arrays"], name, budget, h5py)
            return mf
    except ModelFileError:
        raise
    except Exception as exc:
        raise ModelFileError(f"corrupt model file ({type(exc).__name__}: {exc})", path=name) from exc


def _names(v) -> list[str]:
    if not isinstance(v, list) or not all(isinstance(c, str) for c in v) or len(set(v)) != len(v):
        raise ValueError("class_names is not a JSON list of distinct names")
    return v


def _object(v, key: str) -> dict:
    if not isinstance(v, dict):
        raise ValueError(f"{key} is not a JSON object")
    return v


def _file_size(h5) -> int:
    try:
        return int(h5.id.get_filesize())
    except Exception:
        return 0


def _read_arrays(group, name: str, budget: int, h5py) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    total = 0

    def visit(g, prefix: str) -> None:
        nonlocal total
        for key in g.keys():
            link = g.get(key, getlink=True)
            if not isinstance(link, h5py.HardLink):
                raise ModelFileError(f"refusing link {prefix}{key}: model files hold only their own arrays", path=name)
            obj = g[key]
            if isinstance(obj, h5py.Group):
                visit(obj, f"{prefix}{key}/")
                continue
            if obj.dtype.kind not in "biuf":
                raise ModelFileError(f"array {prefix}{key} has non-numeric dtype {obj.dtype}; refusing it", path=name)
            if obj.external or obj.is_virtual:  # reading a virtual dataset reads other files (or loops: a crash)
                raise ModelFileError(f"array {prefix}{key} lives in an external file; refusing it", path=name)
            nbytes = int(np.prod(obj.shape, dtype=np.float64)) * obj.dtype.itemsize
            total += nbytes
            if total > budget:
                raise ModelFileError(f"array {prefix}{key} claims {nbytes} bytes, more than the file can hold",
                                     path=name)
            arr = obj[()]
            if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                raise ModelFileError(f"array {prefix}{key} contains NaN or infinite values", path=name)
            out[f"{prefix}{key}"] = arr

    visit(group, "")
    return out
