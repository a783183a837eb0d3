"""Model files: one .npz archive (conventionally named *.fsn) with a JSON header.

Format (format_version 2; version 1 files, binary classifiers only, are read too). The
archive holds these arrays, and nothing is ever pickled:
    header  uint8   UTF-8 JSON, described below
    W1 (n_h, n_x), b1 (n_h, 1), W2 (n_y, n_h), b2 (n_y, 1)   the parameters, in `dtype`
    mean (n_x,), scale (n_x,)   float64 standardisation, present when "standardize" is true

The header's keys: format ("fastshallow-model"), format_version, fastshallow_version,
activation, output, dtype, n_x, n_h, n_y, classes, feature_names, target_name,
standardize, interrupted (training was stopped early by the user), info (free-form
training facts), and for regression target_mean and target_scale. The output is either
- "sigmoid": a binary classifier; classes holds the labels of output 0 and 1 (JSON
  values), and the network gives the probability of the second; or
- "identity": a regressor (version 2); classes is null, and a prediction is
  target_mean + target_scale·A2 (the target was standardised for training).

Writing is atomic and replaces only a regular file, and only with overwrite=True
(fastshallow.files). Reading trusts nothing: the header is checked against the format
above (types, sizes, a size and nesting limit), and each array's shape and dtype against
the header before its data is read.
"""

import dataclasses
import json
import numbers
import os
import re
import stat
import zipfile

import numpy as np

from .files import file_path, write_atomically
from .validation import ACTIVATIONS, PARAM_NAMES, check_params, numeric_array
from ._version import __version__

FORMAT = "fastshallow-model"
FORMAT_VERSION = 2
OUTPUTS = ("sigmoid", "identity")
# A header holds a few names per feature: a megabyte is thousands of features. Deeper
# nesting than this is no header fastshallow wrote (its deepest value is info's).
MAX_HEADER_BYTES = 2**20
MAX_HEADER_DEPTH = 16
# The .npy header of one member: NumPy's own default limit for untrusted files.
MAX_NPY_HEADER_BYTES = 10_000


class ModelFileError(ValueError):
    """A model file that is missing parts, damaged, or not a fastshallow model."""


@dataclasses.dataclass
class Model:
    """What a model file holds. params is the usual dict (W1, b1, W2, b2)."""

    params: dict
    activation: str = "tanh"
    classes: list = dataclasses.field(default_factory=lambda: [0, 1])  # None for a regressor
    output: str = "sigmoid"  # or "identity" (a regressor)
    target_mean: float = None  # a regressor's target standardisation
    target_scale: float = None
    feature_names: list = None
    target_name: str = None
    mean: np.ndarray = None
    scale: np.ndarray = None
    interrupted: bool = False
    info: dict = dataclasses.field(default_factory=dict)

    @property
    def n_features(self):
        return self.params["W1"].shape[1]

    @property
    def is_regressor(self):
        return self.output == "identity"

    def prepare(self, X_rows):
        """Rows of raw features (m, n_x) -> the network's input (n_x, m), standardised."""
        X = numeric_array(X_rows, "X_rows")
        # The width is the parameters' (fastshallow train standardises before it has any).
        n_x = self.n_features if self.params is not None else "n_x"
        if X.ndim != 2 or (self.params is not None and X.shape[1] != n_x):
            names = f" ({', '.join(self.feature_names)})" if self.feature_names else ""
            raise ValueError(f"X_rows must have shape (rows, {n_x}), one column per feature{names}; "
                             f"got shape {X.shape}")
        X = X.astype(np.float64)
        if self.mean is not None:
            X = (X - self.mean) / self.scale
        return X.T

    def predict_proba(self, X_rows):
        """Probability of classes[1] for each row: (m,)."""
        return self.probability(self.prepare(X_rows))

    def probability(self, X):
        """Probability of classes[1] for each column of the network's input X (n_x, m),
        already prepared: (m,) float64. A classifier's."""
        if self.is_regressor:
            raise TypeError("probability() is a classifier's; this model is a regressor (output 'identity'): "
                            "use values()")
        return self.outputs(X)

    def values(self, X):
        """A regressor's predictions for each column of the prepared input X: (m,) float64."""
        if not self.is_regressor:
            raise TypeError(f"values() gives a regressor's predictions; this model is a classifier (output "
                            f"{self.output!r}): use probability() or predict_proba()")
        return self.target_mean + self.target_scale * self.outputs(X)

    def outputs(self, X):
        """The network's output A2 (one per column of the prepared input X), (m,) float64."""
        import fastshallow as fs

        # fs.forward converts X to the parameters' dtype after checking it: a float64 value
        # beyond float32's range is reported as too large, not cast to inf first.
        return fs.forward(self.params, X, activation=self.activation, output=self.output)[0].astype(np.float64)


def save_model(path, model, *, overwrite=False):
    """Write model to path atomically. Raises FileExistsError if path exists and not
    overwrite, and refuses to replace anything but a regular file (fastshallow.files).

    The header and arrays are checked as load_model checks them before anything is
    written, so a model file that was written can always be read back."""
    dtype, arrays = check_params(model.params)
    n_h, n_x = arrays[0].shape
    header = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "fastshallow_version": __version__,
        "activation": model.activation,
        "output": model.output,
        "dtype": dtype.name,
        "n_x": n_x,
        "n_h": n_h,
        "n_y": arrays[2].shape[0],
        "classes": _plain(_listed(model.classes)),
        "feature_names": _plain(_listed(model.feature_names)),
        "target_name": model.target_name,
        "standardize": model.mean is not None,
        "interrupted": bool(model.interrupted),
        "info": _plain(model.info),
    }
    if model.output == "identity":
        header["target_mean"] = _plain(model.target_mean)
        header["target_scale"] = _plain(model.target_scale)
    contents = {k: np.asarray(a, dtype=dtype) for k, a in zip(PARAM_NAMES, arrays)}
    if model.mean is not None:
        contents["mean"] = np.asarray(model.mean, dtype=np.float64)
        contents["scale"] = np.asarray(model.scale, dtype=np.float64)
    where = "the model to save"
    text = _json_text(header, where)
    _check_header(header, len(text), where, ValueError)
    for key, (shape, dt) in _expected_arrays(header).items():
        _check_array(contents[key], key, shape, dt, where, ValueError)
    contents["header"] = np.frombuffer(text, dtype=np.uint8)
    return write_atomically(path, lambda f: np.savez(f, **contents), overwrite=overwrite, what="model file")


def _listed(value):
    """A sequence of labels or names (a list, tuple, array, range...) as a list; anything
    else (None, a string, a mapping, a number) as it is, for _check_header to judge:
    list("ab") would make one string two names."""
    if value is None or isinstance(value, (str, bytes, dict)):
        return value
    try:
        return list(value)
    except TypeError:
        return value


def _json_text(header, where):
    """The header as JSON bytes, or ValueError naming the first field JSON cannot hold
    (a class label that is an arbitrary object, say)."""
    try:
        return json.dumps(header).encode()
    except (TypeError, ValueError):
        for field, value in header.items():
            try:
                json.dumps(value)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{where}: header field {field!r} cannot be written as JSON ({exc})") from None
        raise


def _plain(value):
    """value with NumPy scalars as Python ones, so that json can write it (class labels
    often arrive as np.int64 or np.str_)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


def load_model(path):
    """Read and check a model file; ModelFileError (a ValueError) says what is wrong,
    naming the file and the field or array.

    Nothing is read beyond what the header allows: each array's .npy header (its shape
    and dtype) is checked against the JSON header before its data is read, so a small
    file that declares huge arrays is refused at once."""
    path = file_path(path)  # a str: zipfile takes bytes for file contents
    st = os.stat(path)  # FileNotFoundError / PermissionError as they are
    if not stat.S_ISREG(st.st_mode):
        raise ModelFileError(f"{path}: not a regular file")
    try:
        with zipfile.ZipFile(path) as archive:
            members = {name[:-4] for name in archive.namelist() if name.endswith(".npy")}
            if "header" not in members:
                raise ModelFileError(f"{path}: not a fastshallow model file (no header)")
            header = _read_header(archive, path)
            arrays = {}
            for key, (shape, dtype) in _expected_arrays(header).items():
                if key not in members:
                    raise ModelFileError(f"{path}: missing array {key!r}")
                arrays[key] = _read_member(archive, key, shape, dtype, path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError)):
            raise
        raise ModelFileError(f"{path}: not a readable fastshallow model file ({exc})") from None
    return Model(
        params={k: arrays[k] for k in PARAM_NAMES},
        activation=header["activation"],
        classes=header["classes"],
        output=header["output"],
        target_mean=header.get("target_mean"),
        target_scale=header.get("target_scale"),
        feature_names=header.get("feature_names"),
        target_name=header.get("target_name"),
        mean=arrays.get("mean"),
        scale=arrays.get("scale"),
        interrupted=header.get("interrupted", False),
        info=header.get("info", {}),
    )


def _read_header(archive, path):
    """The JSON header, parsed and checked against the schema (_check_header)."""
    raw = _read_member(archive, "header", None, np.dtype(np.uint8), path, limit=MAX_HEADER_BYTES).tobytes()
    try:
        text = raw.decode()
    except UnicodeDecodeError as exc:
        raise ModelFileError(f"{path}: damaged header ({exc})") from None
    depth = _nesting_depth(text)
    if depth > MAX_HEADER_DEPTH:
        raise ModelFileError(f"{path}: damaged header (nested {depth} deep; at most {MAX_HEADER_DEPTH})")
    try:
        header = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelFileError(f"{path}: damaged header ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        found = header.get("format") if isinstance(header, dict) else type(header).__name__
        raise ModelFileError(f"{path}: not a fastshallow model file (format {found!r})")
    version = header.get("format_version")
    if not _is_int(version) or not 1 <= version <= FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: model format version {version!r}; this fastshallow ({__version__}) reads up to {FORMAT_VERSION}"
        )
    _check_header(header, len(raw), path, ModelFileError)
    return header


def _nesting_depth(text):
    """How deeply the JSON text's arrays and objects nest, found without parsing it (a
    parser recurses once per level). Strings are blanked first: their brackets are text."""
    codes = np.frombuffer(_JSON_STRING.sub('""', text).encode(), dtype=np.uint8)
    step = (codes == ord("[")) | (codes == ord("{"))
    step = step.astype(np.int64) - ((codes == ord("]")) | (codes == ord("}")))
    return int(np.cumsum(step).max(initial=0))


_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _is_label(v):
    return isinstance(v, (str, bool, numbers.Real)) and not (isinstance(v, float) and not np.isfinite(v))


def _check_header(header, n_bytes, where, error):
    """Raise error(...) naming `where` and the first field of header that does not fit
    the format: types, sizes, and names that agree with the sizes."""

    def fail(field, expected):
        raise error(f"{where}: header field {field!r} must be {expected}; got {header.get(field)!r:.80}")

    if n_bytes > MAX_HEADER_BYTES:
        raise error(f"{where}: header of {n_bytes} bytes; at most {MAX_HEADER_BYTES}")
    for field in ("n_x", "n_h", "n_y"):
        if not _is_int(header.get(field)) or header[field] < 1:
            fail(field, "a positive integer")
    if header.get("activation") not in ACTIVATIONS:
        fail("activation", f"one of {', '.join(ACTIVATIONS)}")
    version = header.get("format_version", FORMAT_VERSION)
    outputs = OUTPUTS if version >= 2 else OUTPUTS[:1]
    if header.get("output") not in outputs:
        fail("output", " or ".join(map(repr, outputs)) + f" (format version {version})")
    if header.get("dtype") not in ("float32", "float64"):
        fail("dtype", "'float32' or 'float64'")
    classes = header.get("classes")
    if header["output"] == "identity":
        if classes is not None:
            fail("classes", "null for a regressor (output 'identity')")
        for field in ("target_mean", "target_scale"):
            value = header.get(field)
            if not isinstance(value, numbers.Real) or isinstance(value, bool) or not np.isfinite(value):
                fail(field, "a finite number")
        if header["target_scale"] <= 0:
            fail("target_scale", "a positive number")
    else:
        if not isinstance(classes, list) or len(classes) != 2 or not all(map(_is_label, classes)):
            fail("classes", "a list of two labels (strings or numbers)")
        if classes[0] == classes[1]:
            fail("classes", "two different labels")
    names = header.get("feature_names")
    if names is not None and (
        not isinstance(names, list) or len(names) != header["n_x"] or not all(isinstance(n, str) for n in names)
    ):
        fail("feature_names", f"null or a list of n_x = {header['n_x']} strings")
    if header.get("target_name") is not None and not isinstance(header["target_name"], str):
        fail("target_name", "null or a string")
    if not isinstance(header.get("standardize"), bool):
        fail("standardize", "true or false")
    if not isinstance(header.get("interrupted", False), bool):
        fail("interrupted", "true or false")
    if not isinstance(header.get("info", {}), dict):
        fail("info", "an object")


def _expected_arrays(header):
    """{name: (shape, dtype)} of the arrays a checked header says the file holds."""
    n_x, n_h, n_y, dtype = header["n_x"], header["n_h"], header["n_y"], np.dtype(header["dtype"])
    expected = {"W1": ((n_h, n_x), dtype), "b1": ((n_h, 1), dtype), "W2": ((n_y, n_h), dtype), "b2": ((n_y, 1), dtype)}
    if header["standardize"]:
        expected.update(mean=((n_x,), np.dtype(np.float64)), scale=((n_x,), np.dtype(np.float64)))
    return expected


def _read_member(archive, key, shape, dtype, path, limit=None):
    """Array `key` of the archive, after its .npy header has been checked: the dtype, and
    the shape (or, with shape None, a 1-D array of at most `limit` elements).

    Members must be stored uncompressed, as save_model writes them: then no array can be
    larger than the file, and a small file cannot make this allocate gigabytes."""
    info = archive.getinfo(key + ".npy")
    if info.compress_type != zipfile.ZIP_STORED:
        raise ModelFileError(f"{path}: array {key!r} is compressed; model files store their arrays uncompressed")
    with archive.open(info) as f:
        try:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                found_shape, fortran, found_dtype = np.lib.format.read_array_header_1_0(f, MAX_NPY_HEADER_BYTES)
            elif version == (2, 0):
                found_shape, fortran, found_dtype = np.lib.format.read_array_header_2_0(f, MAX_NPY_HEADER_BYTES)
            else:
                raise ValueError(f"unsupported .npy version {version}")
        except ValueError as exc:
            raise ModelFileError(f"{path}: array {key!r} is damaged ({exc})") from None
    if found_dtype != dtype:
        raise ModelFileError(f"{path}: array {key!r} has dtype {found_dtype}; the header says {dtype}")
    if shape is None:
        if len(found_shape) != 1 or found_shape[0] > limit:
            raise ModelFileError(f"{path}: array {key!r} has shape {found_shape}; expected at most ({limit},)")
    elif found_shape != shape:
        raise ModelFileError(f"{path}: array {key!r} has shape {found_shape}; the header says {shape}")
    if info.file_size < int(np.prod(found_shape)) * dtype.itemsize:
        raise ModelFileError(f"{path}: array {key!r} is truncated")
    with archive.open(info) as f:
        try:
            a = np.lib.format.read_array(f, allow_pickle=False, max_header_size=MAX_NPY_HEADER_BYTES)
        except ValueError as exc:
            raise ModelFileError(f"{path}: array {key!r} is damaged ({exc})") from None
    if shape is not None:
        _check_array(a, key, shape, dtype, path, ModelFileError)
    return a


def _check_array(a, key, shape, dtype, where, error):
    """Raise error(...) unless array `key` has the shape and dtype and only finite values
    (and, for the standardisation's scale, positive ones)."""
    if a.shape != shape or a.dtype != dtype:
        raise error(f"{where}: array {key!r} has shape {a.shape} and dtype {a.dtype}; expected {shape} {dtype}")
    bad = ~np.isfinite(a) | ((a <= 0) if key == "scale" else False)
    if bad.any():
        i = np.unravel_index(np.argmax(bad), a.shape)
        what = "standardisation scale must be positive and finite" if key == "scale" else "non-finite value"
        raise error(f"{where}: array {key!r} at {tuple(map(int, i))}: {what} ({a[i]})")
