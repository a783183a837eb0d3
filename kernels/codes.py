"""The one table of hidden activations and of output layers: their names and codes.

The kernels take an activation or output as an integer code (an int argument: one
compiled kernel serves them all, with a ladder on the code at the top of each loop). Every
module reads the codes and names from here: the kernels' ladders (activations.py,
loss.py), the public API's names (fastshallow.validation), the estimator, the NumPy
reference (fastshallow.reference keys its twins by these names) and the tests.

To add an activation: a member of Activation and its names below, a branch in each of
activations.py's ladders (forward, and derivative from the output), and its twin in
fastshallow/reference.py; the tests and benchmarks iterate this table. An output layer
likewise: a member of Output, a branch in loss.py's ladders, and its twin.
"""

from enum import IntEnum


class Activation(IntEnum):
    """Hidden-layer activations g, each with its derivative taken from its output A."""

    TANH = 0  # g' = 1 - A²
    SIGMOID = 1  # g' = A(1 - A)
    RELU = 2  # g' = [A > 0]
    IDENTITY = 3  # g' = 1; also the linear layer's "no activation" in products.py


class Output(IntEnum):
    """Output layers, each with the loss whose delta at the logits is A2 - Y."""

    SIGMOID = 0  # per-output sigmoids, binary cross-entropy (binary and multilabel)
    SOFTMAX = 1  # a softmax over each column, categorical cross-entropy (multiclass)
    IDENTITY = 2  # the logits, squared error halved (regression; decision functions)
    EXP = 3  # exp of the logits (log link), Poisson loss (counts)


# Public names -> codes. The first name of each code is its canonical one; "logistic" is
# scikit-learn's name for the sigmoid.
ACTIVATION_NAMES = {
    "tanh": Activation.TANH,
    "sigmoid": Activation.SIGMOID,
    "logistic": Activation.SIGMOID,
    "relu": Activation.RELU,
    "identity": Activation.IDENTITY,
}
# Output layers by name.
OUTPUT_NAMES = {"sigmoid": Output.SIGMOID, "softmax": Output.SOFTMAX, "identity": Output.IDENTITY, "exp": Output.EXP}


def activation_name(code):
    """The canonical name of an activation code."""
    return next(name for name, c in ACTIVATION_NAMES.items() if c == code)
