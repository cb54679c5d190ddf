"""``python -m jaxconv``: the window-arithmetic calculator of :mod:`jaxconv.cli` (also installed as ``jaxconv-shapes``)."""

import sys

from jaxconv.cli import main

if __name__ == "__main__":
    sys.exit(main())
