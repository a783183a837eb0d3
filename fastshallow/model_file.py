"""Model files: one .npz archive (conventionally named *.fsn) with a JSON header.

Format (format_version 1). The archive holds these arrays, and nothing is ever pickled:
    header  uint8   UTF-8 JSON, described below
    W1 (n_h, n_x), b1 (n_h, 1), W2 (n_y, n_h), b2 (n_y, 1)   the parameters, in `dtype`
    mean (n_x,), scale (n_x,)   float64 standardisation, present when "standardize" is true

The header's keys: format ("fastshallow-model"), format_version, fastshallow_version,
activation, output ("sigmoid": independent binary outputs), dtype, n_x, n_h, n_y, classes
(labels of output 0 and 1, as JSON values), feature_names, target_name, standardize,
interrupted (training was stopped early by the user) and info (free-form training facts).

Writing is atomic: a temporary file in the same folder is written, flushed and fsynced,
then renamed over the target, so a crash at any point leaves either the old file or the
new one, never a mix. An existing file is replaced only with overwrite=True.
"""

import contextlib
import dataclasses
import io
import json
import os
import tempfile
import zipfile

import numpy as np

from ._validation import ACTIVATIONS, PARAM_NAMES, check_params
from ._version import __version__

FORMAT = "fastshallow-model"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A model file that is missing parts, damaged, or not a fastshallow model."""


@dataclasses.dataclass
class Model:
    """What a model file holds. params is the usual dict (W1, b1, W2, b2)."""

    params: dict
    activation: str = "tanh"
    classes: list = dataclasses.field(default_factory=lambda: [0, 1])
    feature_names: list = None
    target_name: str = None
    mean: np.ndarray = None
    scale: np.ndarray = None
    interrupted: bool = False
    info: dict = dataclasses.field(default_factory=dict)

    @property
    def n_features(self):
        return self.params["W1"].shape[1]

    def prepare(self, X_rows):
        """Rows of raw features (m, n_x) -> the network's input (n_x, m), standardised."""
        X = np.asarray(X_rows, dtype=np.float64)
        if self.mean is not None:
            X = (X - self.mean) / self.scale
        return X.T

    def predict_proba(self, X_rows):
        """Probability of classes[1] for each row: (m,)."""
        import fastshallow as fs

        X = self.prepare(X_rows).astype(self.params["W1"].dtype)
        return fs.forward(self.params, X, activation=self.activation)[0].astype(np.float64)


def save_model(path, model, *, overwrite=False):
    """Write model to path atomically. Raises FileExistsError if path exists and not overwrite."""
    path = os.fspath(path)
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True (--force) to replace it")
    dtype, arrays = check_params(model.params)
    if model.activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {', '.join(ACTIVATIONS)}; got {model.activation!r}")
    n_h, n_x = arrays[0].shape
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "fastshallow_version": __version__,
        "activation": model.activation,
        "output": "sigmoid",
        "dtype": dtype.name,
        "n_x": n_x,
        "n_h": n_h,
        "n_y": arrays[2].shape[0],
        "classes": list(model.classes),
        "feature_names": list(model.feature_names) if model.feature_names is not None else None,
        "target_name": model.target_name,
        "standardize": model.mean is not None,
        "interrupted": bool(model.interrupted),
        "info": model.info,
    }
    contents = {k: np.asarray(a, dtype=dtype) for k, a in zip(PARAM_NAMES, arrays)}
    if model.mean is not None:
        contents["mean"] = np.asarray(model.mean, dtype=np.float64)
        contents["scale"] = np.asarray(model.scale, dtype=np.float64)
    contents["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fastshallow-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **contents)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return path


def load_model(path):
    """Read and check a model file; ModelFileError (a ValueError) says what is wrong."""
    path = os.fspath(path)
    with open(path, "rb") as f:  # FileNotFoundError / PermissionError as they are
        raw = f.read()
    try:
        with np.load(io.BytesIO(raw), allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as exc:
        raise ModelFileError(f"{path}: not a readable fastshallow model file ({exc})") from None
    if "header" not in arrays or arrays["header"].dtype != np.uint8:
        raise ModelFileError(f"{path}: not a fastshallow model file (no header)")
    try:
        header = json.loads(arrays["header"].tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: damaged header ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not a fastshallow model file (format {header.get('format')!r})"
                             if isinstance(header, dict) else f"{path}: damaged header")
    version = header.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise ModelFileError(
            f"{path}: model format version {version!r}; this fastshallow ({__version__}) reads up to {FORMAT_VERSION}"
        )
    try:
        n_x, n_h, n_y = int(header["n_x"]), int(header["n_h"]), int(header["n_y"])
        expected = {"W1": (n_h, n_x), "b1": (n_h, 1), "W2": (n_y, n_h), "b2": (n_y, 1)}
        if header["standardize"]:
            expected.update(mean=(n_x,), scale=(n_x,))
        activation = header["activation"]
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: header is missing {exc}") from None
    for key, shape in expected.items():
        if key not in arrays:
            raise ModelFileError(f"{path}: missing array {key!r}")
        if arrays[key].shape != shape:
            raise ModelFileError(f"{path}: array {key!r} has shape {arrays[key].shape}; the header says {shape}")
        if arrays[key].dtype.kind != "f" or not np.isfinite(arrays[key]).all():
            raise ModelFileError(f"{path}: array {key!r} holds non-finite or non-float values")
    if activation not in ACTIVATIONS:
        raise ModelFileError(f"{path}: unknown activation {activation!r}")
    if header["standardize"] and not (arrays["scale"] > 0).all():
        raise ModelFileError(f"{path}: standardisation scale must be positive")
    return Model(
        params={k: arrays[k] for k in PARAM_NAMES},
        activation=activation,
        classes=header.get("classes", [0, 1]),
        feature_names=header.get("feature_names"),
        target_name=header.get("target_name"),
        mean=arrays.get("mean"),
        scale=arrays.get("scale"),
        interrupted=bool(header.get("interrupted", False)),
        info=header.get("info", {}),
    )
