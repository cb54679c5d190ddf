"""The conv-arithmetic explorer in the browser: ``jaxconv-explore`` (or ``python -m jaxconv.explore``).

A local web server (standard library, 127.0.0.1 only) with one page: pick a convolution,
transposed convolution, max pool or average pool on a 1-d or 2-d input, with the whole
padding vocabulary, and see the output size and the formulas from :func:`jaxconv.cli.explain`
(the command line's formatter), the frames of :func:`jaxconv.frames.layout` (the padded grid,
each output position's window and taps, ceil-mode windows, divisors, stride holes) and in
numbers mode the values computed by jaxconv. The page holds no window rule of its own.

Modules: :mod:`~jaxconv.explore.server` (HTTP and the endpoints), :mod:`~jaxconv.explore.query`
(the configuration as a URL query), :mod:`~jaxconv.explore.presets`; ``static/`` holds the page.

>>> from jaxconv.explore import handle
>>> handle("GET", "/api/explain?op=conv&input=7&kernel=3&stride=2&padding=same")[1]["output_size"]
[4]
"""

from jaxconv.explore.server import handle, main, make_server

__all__ = ["handle", "main", "make_server"]
