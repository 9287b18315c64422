"""What the smoke scripts run against a `federation up` share: reading its session (the
folder named by argv[1], default .federation) and a tally of named checks.
Standard library only; imported from the scripts' own folder."""
import json
import os
import sys


def session(argv):
    """The federation's session.env as a dict, and the first sample child."""
    root = argv[1] if len(argv) > 1 else ".federation"
    env = {}
    with open(os.path.join(root, "session.env")) as f:
        for line in f:
            if "=" in line and not line.startswith("#"):
                k, v = line.rstrip("\n").split("=", 1)
                env[k] = v
    with open(os.path.join(root, "sample-children.json")) as f:
        sample = json.load(f)[0]
    return env, sample


class Checks:
    """Named checks, printed as they run; `finish` prints the tally and exits non-zero
    if any failed."""

    def __init__(self):
        self.results = []

    def __call__(self, name, ok, detail=""):
        ok = bool(ok)
        self.results.append(ok)
        print(("ok   " if ok else "FAIL ") + name + ("" if ok else f": {detail}"))

    def finish(self, label=""):
        passed = sum(self.results)
        print(f"{label}{passed} passed, {len(self.results) - passed} failed")
        sys.exit(0 if passed == len(self.results) else 1)
