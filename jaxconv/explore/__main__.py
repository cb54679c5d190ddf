"""``python -m jaxconv.explore``: the conv-arithmetic explorer (also installed as ``jaxconv-explore``)."""

import sys

from jaxconv.explore.server import main

if __name__ == "__main__":
    sys.exit(main())
