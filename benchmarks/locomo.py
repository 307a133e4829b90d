"""LoCoMo retrieval / QA benchmark; same as `langmem-plugin bench locomo`.

    python benchmarks/locomo.py --data ../shared/data/locomo/locomo_dev.json
"""

import sys

from langmem_plugin.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", "locomo", *sys.argv[1:]]))
