"""Export to ONNX: serve a fastshallow model where Python and Numba are not
(``pip install '.[onnx]'`` from a checkout: skl2onnx, onnx and onnxruntime).

Three ways in, one graph of the network (_network):
- the estimators, through skl2onnx's own entry points: after ``import fastshallow.onnx``,
  ``skl2onnx.to_onnx(model, X[:1])`` and ``convert_sklearn`` convert ShallowNetClassifier
  and ShallowNetRegressor, alone or inside a Pipeline. Importing registers a converter and
  a shape calculator for each with skl2onnx; nothing is set on any model.
- a params dict: ``to_onnx(params, activation=..., output=...)``;
- a model file: ``model_file_to_onnx(model or path)`` (and ``fastshallow export MODEL.fsn --onnx
  OUT.onnx``), with the file's standardisation, so the graph takes the same raw rows as
  ``fastshallow predict``.

Every graph takes examples as rows, X (N, n_x), the ONNX and scikit-learn convention, and
computes in the input's float type (float or double), with the parameters cast to it.

The estimators' outputs follow skl2onnx's classifiers: a label tensor, then the
probabilities (a ZipMap of them unless options={"zipmap": False}); with
options={"raw_scores": True} the second output holds decision_function's logits instead
([-z, z] for a binary target, so that ArgMax still gives the label). Multilabel targets
give a 0/1 int64 label matrix. A regressor's output is (N, n_outputs).
"""

import os

import numpy as np

try:
    import onnx
    from onnx import TensorProto, helper, numpy_helper
except ImportError as exc:  # an optional extra
    raise ImportError("fastshallow.onnx needs onnx and skl2onnx: pip install '.[onnx]' in a fastshallow checkout") from exc

from .engine import ACTIVATION_NAMES, Activation, Output
from .model_file import Model, load_model
from .validation import PARAM_NAMES, activation_code, check_params, output_code

__all__ = ["to_onnx", "model_file_to_onnx", "register"]

# The ONNX operator of each row of the table in kernels/codes.py.
ACTIVATION_OPS = {Activation.TANH: "Tanh", Activation.SIGMOID: "Sigmoid", Activation.RELU: "Relu",
                  Activation.IDENTITY: "Identity"}
OUTPUT_OPS = {Output.SIGMOID: "Sigmoid", Output.SOFTMAX: "Softmax", Output.IDENTITY: "Identity", Output.EXP: "Exp"}
# Softmax over the last axis, and every operator used here, as defined from opset 13.
OPSET = 15
_PROTO = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.float64): TensorProto.DOUBLE}


class _Graph:
    """Where _network writes: a node by operator name, inputs and attributes, returning its
    output's name; a constant from an array. Two kinds: skl2onnx's container (_Skl2onnx)
    and a plain list of onnx nodes (_Plain)."""

    def node(self, op, inputs, hint, domain="", **attrs):
        raise NotImplementedError

    def const(self, hint, array):
        raise NotImplementedError


class _Plain(_Graph):
    def __init__(self, reserved):
        """reserved: the graph's input and output names, which no other value may take."""
        self.nodes, self.initializers, self.names = [], [], set(reserved)

    def _name(self, hint):
        name, k = hint, 0
        while name in self.names:
            k += 1
            name = f"{hint}_{k}"
        self.names.add(name)
        return name

    def node(self, op, inputs, hint, domain="", out=None, **attrs):
        out = out or self._name(hint)
        self.nodes.append(helper.make_node(op, list(inputs), [out], name=self._name(op), domain=domain, **attrs))
        return out

    def const(self, hint, array):
        name = self._name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def model(self, inputs, outputs, doc):
        graph = helper.make_graph(self.nodes, "fastshallow", inputs, outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                        helper.make_opsetid("ai.onnx.ml", 1)],
                                  producer_name="fastshallow", doc_string=doc)
        onnx.checker.check_model(model)
        return model


class _Skl2onnx(_Graph):
    def __init__(self, scope, container):
        self.scope, self.container = scope, container

    def node(self, op, inputs, hint, domain="", out=None, **attrs):
        out = out or self.scope.get_unique_variable_name(hint)
        self.container.add_node(op, list(inputs), out, op_domain=domain, name=self.scope.get_unique_operator_name(op),
                                **attrs)
        return out

    def const(self, hint, array):
        array = np.asarray(array)
        name = self.scope.get_unique_variable_name(hint)
        onnx_type = helper.np_dtype_to_tensor_dtype(array.dtype)
        content = array.ravel().tolist() if array.dtype.kind in "SUO" else array.ravel()
        self.container.add_initializer(name, onnx_type, list(array.shape), content)
        return name


def _network(g, x, params, activation, output, dtype):
    """The network on rows x (N, n_x) in dtype: (Z2, A2), both (N, n_y). params: the
    kernels' (W1, b1, W2, b2), as arrays (W1 (n_h, n_x), ...)."""
    W1, b1, W2, b2 = (np.asarray(a, dtype=dtype) for a in params)
    z1 = g.node("Add", [g.node("MatMul", [x, g.const("W1T", W1.T.copy())], "XW1"), g.const("b1", b1[:, 0])], "Z1")
    a1 = g.node(ACTIVATION_OPS[Activation(activation)], [z1], "A1")
    z2 = g.node("Add", [g.node("MatMul", [a1, g.const("W2T", W2.T.copy())], "A1W2"), g.const("b2", b2[:, 0])], "Z2")
    out = Output(output)
    attrs = {"axis": 1} if out == Output.SOFTMAX else {}
    return z2, g.node(OUTPUT_OPS[out], [z2], "A2", **attrs)


def _checked(params, activation, output):
    """(the kernels' params tuple, its dtype, activation code, output code), checked as
    fastshallow.forward checks them (a softmax needs two outputs, for one)."""
    dtype, arrays = check_params(params)
    return arrays, dtype, activation_code(activation), output_code(output, arrays[2].shape[0])


def to_onnx(params, *, activation="tanh", output="sigmoid", dtype=None):
    """The ONNX model of the network params (a dict W1, b1, W2, b2): input "X" (N, n_x), one
    example per row, in dtype (default: the params'); outputs "A2" = fastshallow.forward
    transposed, and "Z2" its logits, both (N, n_y)."""
    arrays, params_dtype, code, out = _checked(params, activation, output)
    dtype = np.dtype(dtype or params_dtype)
    if dtype not in _PROTO:
        raise ValueError(f"dtype must be float32 or float64; got {dtype}")
    n_h, n_x = arrays[0].shape
    n_y = arrays[2].shape[0]
    g = _Plain(["X", "A2", "Z2"])
    z2, a2 = _network(g, "X", arrays, code, out, dtype)
    g.node("Identity", [a2], "", out="A2")
    g.node("Identity", [z2], "", out="Z2")
    t = _PROTO[dtype]
    return g.model([helper.make_tensor_value_info("X", t, [None, n_x])],
                   [helper.make_tensor_value_info("A2", t, [None, n_y]),
                    helper.make_tensor_value_info("Z2", t, [None, n_y])],
                   f"fastshallow {n_x}-{n_h}-{n_y} network, activation {activation}, output {output}")


def model_file_to_onnx(model):
    """The ONNX model of a model file: a Model (fastshallow.load_model) or the file's path.
    Input "X" (N, n_x), raw feature rows as `fastshallow predict` reads them (double),
    standardised as the file says. A classifier's outputs: "label" (N,), classes[1] where
    its probability is above 0.5, and "probability" (N,) of classes[1]; a regressor's:
    "prediction" (N,), in the target's units. Labels are int64 when every class is a whole
    number, double for other numbers, strings for text."""
    if isinstance(model, (str, bytes, os.PathLike)):
        model = load_model(model)
    elif not isinstance(model, Model):
        raise TypeError(f"model must be a model file's Model (fastshallow.load_model) or its path; got "
                        f"{type(model).__name__}")
    arrays, dtype, code, out = _checked(model.params, model.activation, model.output)
    n_x = arrays[0].shape[1]
    g = _Plain(["X", "prediction", "label", "probability"])
    x = "X"
    if model.mean is not None:
        x = g.node("Div", [g.node("Sub", [x, g.const("mean", model.mean)], "centred"), g.const("scale", model.scale)],
                   "standardised")
    x = g.node("Cast", [x], "X_params", to=_PROTO[dtype])
    _, a2 = _network(g, x, arrays, code, out, dtype)
    column = g.node("Cast", [g.node("Squeeze", [a2, g.const("axis1", np.array([1], np.int64))], "A2_column")],
                    "A2_double", to=TensorProto.DOUBLE)
    if model.is_regressor:
        scaled = g.node("Mul", [column, g.const("target_scale", np.float64(model.target_scale))], "scaled")
        g.node("Add", [scaled, g.const("target_mean", np.float64(model.target_mean))], "", out="prediction")
        outputs = [helper.make_tensor_value_info("prediction", TensorProto.DOUBLE, [None])]
    else:
        classes = _label_array(model.classes)
        positive = g.node("Greater", [column, g.const("half", np.float64(0.5))], "positive")
        index = g.node("Cast", [positive], "class_index", to=TensorProto.INT64)
        g.node("Gather", [g.const("classes", classes), index], "", out="label", axis=0)
        g.node("Identity", [column], "", out="probability")
        outputs = [helper.make_tensor_value_info("label", helper.np_dtype_to_tensor_dtype(classes.dtype), [None]),
                   helper.make_tensor_value_info("probability", TensorProto.DOUBLE, [None])]
    return g.model([helper.make_tensor_value_info("X", TensorProto.DOUBLE, [None, n_x])], outputs,
                   f"fastshallow model file ({'regressor' if model.is_regressor else 'binary classifier'})")


def _label_array(classes):
    """The class labels as the ONNX label tensor's values (see model_file_to_onnx)."""
    if all(isinstance(c, str) for c in classes):
        return np.array(classes, dtype=object)
    values = np.array(classes, dtype=np.float64)
    return values.astype(np.int64) if np.all(values == np.round(values)) else values


# -- skl2onnx -------------------------------------------------------------------------------


def _input_dtype(operator):
    from skl2onnx.common.data_types import DoubleTensorType

    return np.dtype(np.float64) if isinstance(operator.inputs[0].type, DoubleTensorType) else np.dtype(np.float32)


def _params_of(model):
    return tuple(model._params[k] for k in PARAM_NAMES)


def _rows(g, operator, dtype):
    """The operator's input rows, cast to dtype (inputs may be int or another float)."""
    return g.node("Cast", [operator.inputs[0].full_name], "X_cast", to=_PROTO[dtype])


def _convert_classifier(scope, operator, container):
    model = operator.raw_operator
    dtype = _input_dtype(operator)
    g = _Skl2onnx(scope, container)
    z2, a2 = _network(g, _rows(g, operator, dtype), _params_of(model), ACTIVATION_NAMES[model.activation], model._output, dtype)
    y_type = model._label_binarizer.y_type_
    options = container.get_options(model, dict(raw_scores=False))
    label, scores = operator.outputs[0].full_name, operator.outputs[1].full_name
    if y_type == "binary":
        column = z2 if options["raw_scores"] else a2
        other = (g.node("Neg", [z2], "negative_logit") if options["raw_scores"]
                 else g.node("Sub", [g.const("one", np.array(1, dtype)), a2], "negative_proba"))
        g.node("Concat", [other, column], "", out=scores, axis=1)
    else:
        g.node("Identity", [z2 if options["raw_scores"] else a2], "", out=scores)
    if y_type == "multilabel-indicator":
        positive = g.node("Greater", [a2, g.const("half", np.array(0.5, dtype))], "positive")
        g.node("Cast", [positive], "", out=label, to=TensorProto.INT64)
        return
    index = g.node("ArgMax", [scores], "class_index", axis=1, keepdims=0)
    classes = model.classes_
    if classes.dtype.kind in "iub":
        table = g.const("classes", classes.astype(np.int64))
    elif classes.dtype.kind == "f":
        table = g.const("classes", classes.astype(np.float64))
    else:
        table = g.const("classes", np.array([str(c) for c in classes], dtype=object))
    g.node("Gather", [table, index], "", out=label, axis=0)


def _convert_regressor(scope, operator, container):
    model = operator.raw_operator
    dtype = _input_dtype(operator)
    g = _Skl2onnx(scope, container)
    _, a2 = _network(g, _rows(g, operator, dtype), _params_of(model), ACTIVATION_NAMES[model.activation], model._output, dtype)
    g.node("Identity", [a2], "", out=operator.outputs[0].full_name)


def _classifier_shapes(operator):
    """Labels (N,) of the classes' type ((N, n_labels) int64 for multilabel), and scores
    (N, n_classes) in the input's float type."""
    from skl2onnx.common.data_types import (
        DoubleTensorType,
        FloatTensorType,
        Int64TensorType,
        StringTensorType,
    )

    model = operator.raw_operator
    n = operator.inputs[0].get_first_dimension()
    float_type = DoubleTensorType if _input_dtype(operator) == np.float64 else FloatTensorType
    classes = model.classes_
    n_scores = 2 if model._label_binarizer.y_type_ == "binary" else model.n_outputs_
    if model._label_binarizer.y_type_ == "multilabel-indicator":
        operator.outputs[0].type = Int64TensorType([n, n_scores])
    elif classes.dtype.kind in "iub":
        operator.outputs[0].type = Int64TensorType([n])
    elif classes.dtype.kind == "f":
        operator.outputs[0].type = DoubleTensorType([n])
    else:
        operator.outputs[0].type = StringTensorType([n])
    operator.outputs[1].type = float_type([n, n_scores])


def _regressor_shapes(operator):
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType

    n = operator.inputs[0].get_first_dimension()
    float_type = DoubleTensorType if _input_dtype(operator) == np.float64 else FloatTensorType
    operator.outputs[0].type = float_type([n, operator.raw_operator.n_outputs_])


def register():
    """Register both estimators' converters and shape calculators with skl2onnx (done on
    import; calling again changes nothing)."""
    from skl2onnx import update_registered_converter

    from .estimator import ShallowNetClassifier, ShallowNetRegressor

    update_registered_converter(ShallowNetClassifier, "FastshallowShallowNetClassifier", _classifier_shapes,
                                _convert_classifier,
                                options={"zipmap": [True, False, "columns"], "nocl": [True, False],
                                         "raw_scores": [False, True]})
    update_registered_converter(ShallowNetRegressor, "FastshallowShallowNetRegressor", _regressor_shapes,
                                _convert_regressor)


register()
