"""``scimtrail serve`` exactly as shipped, run from the source tree (the benchmarks' baseline)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

if __name__ == "__main__":
    from scim_server.cli import main

    sys.exit(main(["serve", *sys.argv[1:]]))
