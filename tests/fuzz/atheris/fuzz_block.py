"""atheris harness for the ``block`` parser (see runner.py for how to run it)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from tests.fuzz.atheris.runner import main

if __name__ == "__main__":
    main("block")
