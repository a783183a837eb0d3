"""Record the fingerprints of tests/pins.py's cases for this machine in
tests/pinned_results.json (other machines' entries are kept).

Run it at a commit whose results you trust, before a change that must not alter them:
    python tools/pin_results.py
"""

import json
import os
import sys
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(__file__), os.pardir, "tests"))

from pins import CASES, CLUSTER_CASES, PINS, fingerprint, machine_key  # noqa: E402


def main():
    pins = {}
    if os.path.exists(PINS):
        with open(PINS) as f:
            pins = json.load(f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found = {name: fingerprint(case()) for name, case in sorted(CASES.items())}
    import distributed  # the cluster cases as test_distributed.py runs them: 2 workers, 1 thread each

    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None) as cluster:
        with distributed.Client(cluster) as client:
            found |= {name: fingerprint(case(client)) for name, case in sorted(CLUSTER_CASES.items())}
    pins[machine_key()] = found
    with open(PINS, "w") as f:
        json.dump(pins, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"{machine_key()}: {len(found)} fingerprints written to {PINS}")


if __name__ == "__main__":
    main()
