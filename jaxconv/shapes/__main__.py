"""Deprecated entry point ``python -m jaxconv.shapes``: use ``python -m jaxconv`` (or ``jaxconv-shapes``)."""

import sys
import warnings

from jaxconv.cli import main

warnings.warn("python -m jaxconv.shapes is deprecated and will be removed in the next release; "
              "use python -m jaxconv (or the jaxconv-shapes command)", DeprecationWarning, stacklevel=1)
sys.exit(main())
