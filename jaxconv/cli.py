"""The window-arithmetic calculator: ``python -m jaxconv`` (or ``jaxconv-shapes``).

Two layers, so that other front ends (a browser explorer, a notebook widget) print the same
formulas as the command line:

- :func:`explain` and :func:`explain_params` turn arguments into the formulas with the numbers
  filled in (an :class:`Explanation`, or one line for a parameter count). They are the only
  place the formula text is written.
- :func:`main` parses the command line, calls them, prints, and turns a ``ValueError`` or
  ``TypeError`` into ``error: ...`` on stderr and exit status 2.

Like :mod:`jaxconv.shapes`, whose rules it calls, this module is pure Python (no JAX).

>>> print(explain("conv", (8, 8), 3, stride=2, padding=1))
conv: input (8, 8) -> output (4, 4)   (padding (1, 1), (1, 1))
dim 0: out = floor((8 + 1 + 1 - 1*(3-1) - 1) / 2) + 1 = 4
dim 1: out = floor((8 + 1 + 1 - 1*(3-1) - 1) / 2) + 1 = 4
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass

from jaxconv.shapes import (
    IntOrSeq,
    Padding,
    arg_error,
    canonicalize,
    conv_output_shape,
    conv_params,
    conv_transpose_output_shape,
    conv_transpose_padding,
    effective_kernel,
    pool_padding,
    resolve_padding,
)

__all__ = ["OPS", "Explanation", "explain", "explain_params", "main"]

#: The window ops :func:`explain` knows.
OPS = ("conv", "pool", "transpose")


@dataclass(frozen=True)
class Explanation:
    """The output size of one window op and the formula per spatial dim, numbers filled in.

    ``str()`` of it is what the command line prints: :attr:`header`, then one line per dim.
    """

    op: str
    input_size: tuple[int, ...]
    output_size: tuple[int, ...]
    padding: tuple[tuple[int, int], ...]
    formulas: tuple[str, ...]

    @property
    def header(self) -> str:
        """``conv: input (8, 8) -> output (4, 4)   (padding (1, 1), (1, 1))``."""
        pads = ", ".join(f"({lo}, {hi})" for lo, hi in self.padding)
        return f"{self.op}: input {self.input_size} -> output {self.output_size}   (padding {pads})"

    def __str__(self) -> str:
        return "\n".join((self.header, *self.formulas))


def explain(op: str, input_size: IntOrSeq, kernel_size: IntOrSeq, stride: IntOrSeq | None = None, padding: Padding = 0,
            dilation: IntOrSeq = 1, *, ceil_mode: bool = False, output_padding: IntOrSeq = 0, fn: str = "explain"
            ) -> Explanation:
    """Output size of a conv, pool or transposed conv with its formula per dim, numbers filled in.

    ``op`` is one of :data:`OPS`; the other arguments mean what they mean in
    :func:`jaxconv.shapes.conv_output_shape`, :func:`~jaxconv.shapes.pool_output_shape` and
    :func:`~jaxconv.shapes.conv_transpose_output_shape` (the whole padding vocabulary);
    ``stride=None`` is the kernel size for ``"pool"`` and 1 otherwise, as in torch. The sizes
    come from those functions, so the formulas can never disagree with the ops; a bad argument
    raises their ``ValueError``/``TypeError``, naming ``fn``.

    >>> e = explain("pool", 5, 2, stride=2, padding=1, ceil_mode=True)
    >>> e.output_size, e.padding
    ((3,), ((1, 1),))
    >>> print(e.formulas[0])
    dim 0: out = ceil((5 + 1 + 1 - 1*(2-1) - 1) / 2) + 1 = 4 -> 3 (the last window would start in the right padding)
    >>> print(explain("transpose", (4,), 3, stride=2, padding=1, output_padding=1).formulas[0])
    dim 0: out = (4 - 1)*2 - 1 - 1 + 1*(3-1) + 1 + 1 = 8
    """
    if op not in OPS:
        raise arg_error(fn, "op", f"must be one of {OPS}", op)
    if ceil_mode and op != "pool":
        raise arg_error(fn, "ceil_mode", "applies to op='pool' only", ceil_mode)
    if output_padding != 0 and op != "transpose":
        raise arg_error(fn, "output_padding", "applies to op='transpose' only", output_padding)
    n = len(input_size) if isinstance(input_size, Sequence) else 1
    ins = canonicalize(input_size, n, "input_size", fn, min_value=1)
    k = canonicalize(kernel_size, n, "kernel_size", fn, min_value=1)
    d = canonicalize(dilation, n, "dilation", fn, min_value=1)
    s = k if stride is None and op == "pool" else canonicalize(1 if stride is None else stride, n, "stride", fn, min_value=1)
    lines = []
    if op == "conv":
        pads = resolve_padding(padding, ins, k, s, d, fn=fn)
        out = conv_output_shape(ins, k, s, pads, d, fn=fn)
        for j in range(n):
            lines.append(f"dim {j}: out = floor(({ins[j]} + {pads[j][0]} + {pads[j][1]} - {d[j]}*({k[j]}-1) - 1) / {s[j]}) + 1 = {out[j]}")
    elif op == "pool":
        out, pads, _ = pool_padding(ins, k, s, padding, d, ceil_mode, fn=fn)
        keff = effective_kernel(k, d)
        rnd = "ceil" if ceil_mode else "floor"
        for j in range(n):
            # the formula's value before torch's ceil-mode rule drops a window starting in the right padding
            raw = (ins[j] + pads[j][0] + pads[j][1] - keff[j] + (s[j] - 1 if ceil_mode else 0)) // s[j] + 1
            line = f"dim {j}: out = {rnd}(({ins[j]} + {pads[j][0]} + {pads[j][1]} - {d[j]}*({k[j]}-1) - 1) / {s[j]}) + 1 = {raw}"
            if raw != out[j]:
                line += f" -> {out[j]} (the last window would start in the right padding)"
            lines.append(line)
    else:
        pads, ops = conv_transpose_padding(ins, k, s, padding, output_padding, d, fn=fn)
        out = conv_transpose_output_shape(ins, k, s, pads, ops, d, fn=fn)
        for j in range(n):
            lines.append(f"dim {j}: out = ({ins[j]} - 1)*{s[j]} - {pads[j][0]} - {pads[j][1]} + {d[j]}*({k[j]}-1) + {ops[j]} + 1 = {out[j]}")
    return Explanation(op, ins, tuple(out), tuple(pads), tuple(lines))


def explain_params(in_channels: int, out_channels: int, kernel_size: IntOrSeq, groups: int = 1, bias: bool = True) -> str:
    """A convolution's parameter count as a formula with the numbers filled in.

    ``kernel_size`` as an int means a 2-d kernel (as :func:`jaxconv.shapes.conv_params`).

    >>> explain_params(3, 64, 3)
    'params = 3 * 3 * 3/1 * 64 + 64 = 1792'
    """
    total = conv_params(in_channels, out_channels, kernel_size, groups, bias)
    ks = (kernel_size,) * 2 if isinstance(kernel_size, int) else tuple(kernel_size)
    kterm = " * ".join(map(str, ks))
    return f"params = {kterm} * {in_channels}/{groups} * {out_channels}{f' + {out_channels}' if bias else ''} = {total}"


def _parse_padding(tokens: list[str]) -> Padding:
    """``["same"]`` -> ``"same"``, ``["1"]`` -> ``1``, ``["1", "2"]`` -> ``[1, 2]``, ``["1,0", "2,2"]`` -> pairs."""
    if len(tokens) == 1 and not tokens[0].lstrip("-").isdigit() and "," not in tokens[0]:
        return tokens[0]
    out: list[int | tuple[int, int]] = []
    for t in tokens:
        if "," in t:
            a, b = t.split(",")
            out.append((int(a), int(b)))
        else:
            out.append(int(t))
    return out[0] if len(out) == 1 and isinstance(out[0], int) else out  # type: ignore[return-value]


def _one(v: list[int] | None) -> IntOrSeq | None:
    return v if v is None or len(v) > 1 else v[0]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="jaxconv-shapes",
        description="Output sizes of convolutions, pools and transposed convolutions, with the formula filled in. "
        "Also: python -m jaxconv.",
        epilog="Examples: jaxconv-shapes conv -i 8 8 -k 3 -s 2 -p 1 | jaxconv-shapes pool -i 5 5 -k 3 --ceil-mode | "
        "jaxconv-shapes conv -i 7 -k 3 -s 2 -p same | jaxconv-shapes transpose -i 4 -k 3 -s 2 -p 1 --output-padding 1 | "
        "jaxconv-shapes params --in-channels 3 --out-channels 64 -k 3",
    )
    sub = parser.add_subparsers(dest="op", required=True)
    for name in OPS:
        p = sub.add_parser(name)
        p.add_argument("-i", "--input", type=int, nargs="+", required=True, help="spatial input sizes")
        p.add_argument("-k", "--kernel", type=int, nargs="+", required=True)
        p.add_argument("-s", "--stride", type=int, nargs="+", default=None)
        p.add_argument("-p", "--padding", nargs="+", default=["0"],
                       help="int(s), lo,hi pairs (e.g. 1,0 2,2) or valid/same/same_lower/full/causal")
        p.add_argument("-d", "--dilation", type=int, nargs="+", default=[1])
        if name == "pool":
            p.add_argument("--ceil-mode", action="store_true")
        if name == "transpose":
            p.add_argument("--output-padding", type=int, nargs="+", default=[0])
    p = sub.add_parser("params")
    p.add_argument("--in-channels", type=int, required=True)
    p.add_argument("--out-channels", type=int, required=True)
    p.add_argument("-k", "--kernel", type=int, nargs="+", required=True)
    p.add_argument("--groups", type=int, default=1)
    p.add_argument("--no-bias", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m jaxconv`` and ``jaxconv-shapes``: prints the formulas, returns the exit status.

    >>> main(["conv", "-i", "7", "-k", "3", "-s", "2", "-p", "same"])
    conv: input (7,) -> output (4,)   (padding (1, 1))
    dim 0: out = floor((7 + 1 + 1 - 1*(3-1) - 1) / 2) + 1 = 4
    0
    """
    args = _parser().parse_args(argv)
    fn = "jaxconv-shapes"
    try:
        if args.op == "params":
            print(explain_params(args.in_channels, args.out_channels, _one(args.kernel), args.groups, not args.no_bias))  # type: ignore[arg-type]
            return 0
        extra = {"ceil_mode": args.ceil_mode} if args.op == "pool" else {}
        if args.op == "transpose":
            extra = {"output_padding": _one(args.output_padding)}
        print(explain(args.op, tuple(args.input), _one(args.kernel), _one(args.stride),  # type: ignore[arg-type]
                      _parse_padding(args.padding), _one(args.dilation), fn=fn, **extra))  # type: ignore[arg-type]
        return 0
    except (ValueError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
