import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

from hypothesis import settings  # noqa: E402

# Compiled kernels make the first example of a test slow; bounded examples keep it fast.
settings.register_profile("fastshallow", deadline=None, max_examples=40)
settings.load_profile("fastshallow")
