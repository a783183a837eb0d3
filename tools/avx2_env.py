"""Print the environment that makes Numba compile fastshallow's kernels for an AVX2 CPU
(Haswell: 256-bit vectors, no AVX-512) on this machine, for `eval` in a shell:

    eval "$(python tools/avx2_env.py)" && pytest

NUMBA_CPU_NAME alone changes only LLVM's tuning: the instruction set is still this
machine's features (numba.config.CPU_FEATURES defaults to the host's), AVX-512 included.
So the features are this machine's with every AVX-512 extension (and the AMX and AVX10
ones that build on it) turned off.
"""

import shlex

from llvmlite import binding


def avx2_features():
    features = binding.get_host_cpu_features()
    for name in features:
        if name.startswith(("avx512", "amx", "avx10", "evex512")):
            features[name] = False
    return features.flatten()


if __name__ == "__main__":
    print(f"export NUMBA_CPU_NAME=haswell NUMBA_CPU_FEATURES={shlex.quote(avx2_features())}")
