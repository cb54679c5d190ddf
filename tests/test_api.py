"""API conventions over ``jaxconv.__all__`` and ``jaxconv.nn.__all__``.

Every public function and class: type hints, a docstring with a ``>>>`` example that
pytest's ``--doctest-modules`` run collects (so the example runs in CI), and, where
``torch.nn.functional`` (functions) or ``torch.nn`` (layers) has the same name, torch's
parameter names in torch's order with torch's defaults. ``py.typed`` is shipped.

oracle: ``inspect.signature`` of torch 2.13's functions and layers (torch's builtins
have no signature object; their docstring's first line ``name(params) -> Tensor`` is
parsed instead).
"""

from __future__ import annotations

import ast
import doctest
import importlib.resources
import inspect
import re
import sys
import typing
from pathlib import Path

import jax
import pytest

torch = pytest.importorskip("torch", reason="torch is the oracle of the signature checks")
F = torch.nn.functional

import jaxconv  # noqa: E402
import jaxconv.nn  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]

# Op modules whose public functions must all be exported by ``jaxconv`` (the top level is
# the one place users import ops from). Specs and spec builders are internal plumbing.
OP_MODULES = ("convolution", "padding", "pool", "transpose", "resize", "patches", "affine", "normalization")
INTERNAL = {"ResizeSpec", "resize_spec", "PatchSpec", "PAD_MODES", "MODES", "check_pad_rank", "pad_spatial"}

# Deliberate differences from torch's signatures, each with its reason. Keys: jaxconv name;
# values: {torch parameter: reason}. Parameters listed here are exempt from the
# name/order/default check; everything else must match.
SIGNATURE_DIFFERENCES: dict[str, dict[str, str]] = {
    # nn layers: torch's `device` has no meaning for JAX arrays (placement follows the
    # inputs' sharding), and `dtype` is keyword-only next to NNX's required `rngs`.
    **{f"nn.{name}": {"device": "no devices in JAX layers: placement follows the inputs' sharding",
                      "dtype": "keyword-only here, beside NNX's `rngs`"}
       for name in ("Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
                    "Linear", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "LayerNorm", "GroupNorm")},
}

# Names that exist in torch with a different meaning or signature on purpose: not compared.
NOT_COMPARED = {
    # jaxconv.conv/conv_transpose are N-d (torch has no such functional); listed to be explicit.
}


def _pyproject_section(name: str) -> str:
    """The text of one ``[table]`` of pyproject.toml (tomllib needs Python 3.11; we support 3.10)."""
    text = (ROOT / "pyproject.toml").read_text()
    m = re.search(rf"^\[{re.escape(name)}\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S)
    assert m, f"pyproject.toml has no [{name}]"
    return m[1]


def _public(module) -> list[tuple[str, object]]:
    return [(name, getattr(module, name)) for name in module.__all__]


def _functions_and_classes() -> list[tuple[str, object]]:
    out = []
    for name, obj in _public(jaxconv):
        if inspect.ismodule(obj) or not callable(obj):
            continue
        out.append((name, obj))
    for name, obj in _public(jaxconv.nn):
        out.append((f"nn.{name}", obj))
    return out


PUBLIC = _functions_and_classes()
IDS = [name for name, _ in PUBLIC]


def test_public_names_exist_and_all_is_sorted_unique():
    """Every name in ``__all__`` resolves and appears once. oracle: the module objects."""
    for module in (jaxconv, jaxconv.nn):
        assert len(set(module.__all__)) == len(module.__all__), module.__name__
        for name in module.__all__:
            assert hasattr(module, name), f"{module.__name__}.__all__ names missing {name}"


@pytest.mark.parametrize("modname", OP_MODULES)
def test_op_modules_are_exported(modname):
    """Each op module's public functions are exported from ``jaxconv``. oracle: the modules' ``__all__``."""
    module = __import__(f"jaxconv.{modname}", fromlist=["_"])
    missing = [n for n in module.__all__ if n not in INTERNAL and n not in jaxconv.__all__]
    assert not missing, f"jaxconv.{modname} public names not exported by jaxconv: {missing}"
    for n in module.__all__:
        if n in jaxconv.__all__:
            assert getattr(jaxconv, n) is getattr(module, n)


def _hinted(fn) -> None:
    sig = inspect.signature(fn)
    hints = typing.get_type_hints(fn)
    for p in sig.parameters.values():
        if p.name in ("self", "cls") or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        assert p.name in hints, f"{fn.__qualname__}: parameter `{p.name}` has no type hint"
    assert "return" in hints, f"{fn.__qualname__}: no return type hint"


@pytest.mark.parametrize(("name", "obj"), PUBLIC, ids=IDS)
def test_concrete_return_types(name, obj):
    """Every public function returns a concrete type (not ``Any``); the ``return_indices`` forms have
    ``@overload``s with ``Literal`` for each form. oracle: typing.get_type_hints and typing.get_overloads.
    """
    if isinstance(obj, type):
        return
    ret = typing.get_type_hints(obj)["return"]
    assert ret is not typing.Any, f"{name}: returns Any"
    if "return_indices" in inspect.signature(obj).parameters:
        overloads = typing.get_overloads(obj)
        assert len(overloads) == 2, f"{name}: needs one @overload per return_indices form"
        forms = {typing.get_type_hints(o)["return_indices"] for o in overloads}
        assert forms == {typing.Literal[False], typing.Literal[True]}, f"{name}: overloads {forms}"
        assert {typing.get_type_hints(o)["return"] for o in overloads} == {jax.Array, tuple[jax.Array, jax.Array]}


def test_public_api_is_not_generated():
    """Public functions are written out in their module (no factories): each is defined at its module's top level
    under its own name. oracle: inspect and the module source."""
    for name, obj in PUBLIC:
        if isinstance(obj, type) or name.startswith("nn."):
            continue
        assert obj.__qualname__ == obj.__name__ == name.split(".")[-1], f"{name}: built as {obj.__qualname__}"
        src = inspect.getsource(sys.modules[obj.__module__])
        assert re.search(rf"^def {obj.__name__}\(", src, re.M), f"{name}: not written out in {obj.__module__}"


@pytest.mark.parametrize(("name", "obj"), PUBLIC, ids=IDS)
def test_type_hints(name, obj):
    """Every parameter and the return value are annotated (and the annotations resolve). oracle: typing.get_type_hints."""
    if isinstance(obj, type):
        if obj.__init__ is not object.__init__:  # a layer without arguments defines no constructor
            _hinted(obj.__init__)
        if "__call__" in vars(obj):
            _hinted(obj.__call__)
    else:
        _hinted(obj)


def _doctests(obj) -> list[doctest.DocTest]:
    module = sys.modules[obj.__module__]
    return [t for t in doctest.DocTestFinder(recurse=False).find(obj, obj.__name__, module=module) if t.examples]


@pytest.mark.parametrize(("name", "obj"), PUBLIC, ids=IDS)
def test_docstring_has_collected_example(name, obj):
    """A one-line summary, and a ``>>>`` example that ``--doctest-modules`` collects from the defining module.

    oracle: doctest.DocTestFinder over the defining module (the finder pytest uses).
    """
    doc = inspect.getdoc(obj)
    assert doc and doc.splitlines()[0].strip(), f"{name}: no docstring"
    assert _doctests(obj), f"{name}: docstring has no >>> example"
    module = sys.modules[obj.__module__]
    # The doctest run only visits objects bound at module level in their defining module.
    assert getattr(module, obj.__name__, None) is obj, f"{name}: not bound as {obj.__module__}.{obj.__name__}"
    found = {t.name for t in doctest.DocTestFinder().find(module) if t.examples}
    assert f"{module.__name__}.{obj.__name__}" in found, f"{name}: example not collected by --doctest-modules"


def test_doctests_run_over_jaxconv():
    """pytest's configuration collects doctests from every module of the package. oracle: pyproject.toml."""
    cfg = _pyproject_section("tool.pytest.ini_options")
    assert "--doctest-modules" in cfg
    assert re.search(r'testpaths\s*=\s*\[[^]]*"jaxconv"', cfg)


def _torch_signature(tobj) -> inspect.Signature | None:
    """torch's signature; for builtins and boolean-dispatch wrappers, parsed from the docstring's first line."""
    try:
        sig = inspect.signature(tobj)
    except (ValueError, TypeError):
        sig = None
    if sig is not None and (tobj.__name__ == "__init__"
                            or not any(p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) for p in sig.parameters.values())):
        return sig
    first = (tobj.__doc__ or "").strip().splitlines()[0] if tobj.__doc__ else ""
    head = first.split("->")[0].strip()
    if "(" not in head:
        return None
    src = f"def {head.split('(')[0].strip()}({head.split('(', 1)[1].rsplit(')', 1)[0]}): pass"
    ns: dict = {}
    exec(compile(ast.parse(src), "<torch-doc>", "exec"), ns)  # defaults are plain literals
    return inspect.signature(next(v for k, v in ns.items() if k != "__builtins__"))


def _torch_counterpart(name: str):
    if name.startswith("nn."):
        t = getattr(torch.nn, name[3:], None)
        return t.__init__ if isinstance(t, type) else None
    return getattr(F, name, None) if name not in NOT_COMPARED else None


COMPARED = [(n, o) for n, o in PUBLIC if _torch_counterpart(n) is not None]


@pytest.mark.parametrize(("name", "obj"), COMPARED, ids=[n for n, _ in COMPARED])
def test_signature_matches_torch(name, obj):
    """torch's parameters, by name, in torch's order, with torch's defaults; extras only after them.

    oracle: inspect.signature of the torch function / layer constructor (torch 2.13).
    """
    tsig = _torch_signature(_torch_counterpart(name))
    assert tsig is not None, f"cannot read torch's signature of {name}"
    jfn = obj.__init__ if isinstance(obj, type) else obj
    jparams = [p for p in inspect.signature(jfn).parameters.values() if p.name != "self"]
    exempt = SIGNATURE_DIFFERENCES.get(name, {})
    # Only named parameters are compared: torch layers without arguments inherit
    # Module.__init__(*args, **kwargs), and Identity/Sequential take *args on purpose.
    tparams = [p for p in tsig.parameters.values()
               if p.name != "self" and p.name not in exempt and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    jnames = [p.name for p in jparams]
    assert jnames[:len(tparams)] == [p.name for p in tparams], (
        f"{name}: parameters {jnames} do not start with torch's {[p.name for p in tparams]}")
    for tp, jp in zip(tparams, jparams):
        # torch's keyword-only parameters (e.g. BatchNorm's `bias`) may stay keyword-only.
        if tp.kind != tp.KEYWORD_ONLY:
            assert jp.kind in (jp.POSITIONAL_OR_KEYWORD, jp.POSITIONAL_ONLY), f"{name}: `{jp.name}` must be positional like torch's"
        assert (tp.default is tp.empty) == (jp.default is jp.empty), f"{name}: `{jp.name}` required-ness differs from torch"
        if tp.default is not tp.empty:
            assert jp.default == tp.default, f"{name}: default of `{jp.name}` is {jp.default!r}, torch's is {tp.default!r}"


def test_signature_differences_are_real():
    """Every listed difference names a torch parameter that exists and is absent or moved here. oracle: torch."""
    for name, diffs in SIGNATURE_DIFFERENCES.items():
        tsig = _torch_signature(_torch_counterpart(name))
        assert tsig is not None, name
        for param in diffs:
            assert param in tsig.parameters, f"{name}: torch has no parameter {param}"


def test_py_typed_is_shipped():
    """PEP 561 marker in the package and inside the wheel's package dir. oracle: importlib.resources + pyproject."""
    assert importlib.resources.files("jaxconv").joinpath("py.typed").is_file()
    assert re.search(r'packages\s*=\s*\["jaxconv"\]', _pyproject_section("tool.hatch.build.targets.wheel"))
    assert re.search(r'typeCheckingMode\s*=\s*"basic"', _pyproject_section("tool.pyright"))
    assert re.search(r"^pyright\b", (ROOT / ".ci" / "run").read_text(), re.M), ".ci/run does not run pyright"


MOVED = [
    # (how the old name is reached, the object it must give) -- each warns for a release, then goes.
    (lambda: __import__("jaxconv.conv", fromlist=["conv2d"]).conv2d, lambda: jaxconv.conv2d),
    (lambda: __import__("jaxconv.conv", fromlist=["ConvSpec"]).ConvSpec, lambda: jaxconv.shapes.ConvSpec),
    (lambda: __import__("jaxconv.linear", fromlist=["linear"]).linear, lambda: jaxconv.linear),
    (lambda: jaxconv.pool.PoolSpec, lambda: jaxconv.shapes.PoolSpec),
    (lambda: jaxconv.transpose.ConvTransposeSpec, lambda: jaxconv.shapes.ConvTransposeSpec),
    (lambda: jaxconv.padding.check_pad_limits, lambda: jaxconv.shapes.check_pad_limits),
    (lambda: jaxconv.shapes.ShapeError, lambda: ValueError),
    (lambda: __import__("jaxconv.nn.graph_import", fromlist=["capture"]).capture,
     lambda: __import__("jaxconv.nn.graph_capture", fromlist=["capture"]).capture),
    (lambda: __import__("jaxconv.nn.graph_import", fromlist=["CaptureError"]).CaptureError,
     lambda: __import__("jaxconv.nn.graph_capture", fromlist=["CaptureError"]).CaptureError),
]


@pytest.mark.parametrize(("old", "new"), MOVED, ids=range(len(MOVED)))
def test_moved_names_keep_working_with_a_deprecation_warning(old, new):
    """Public names that moved in the restructure still resolve, with a DeprecationWarning. oracle: the new names."""
    with pytest.warns(DeprecationWarning, match="removed in the next release|will be removed"):
        got = old()
    expected = new()
    assert got is expected or (isinstance(got, type) and issubclass(got, expected))


def test_module_paths_no_longer_hidden_by_functions():
    """``jaxconv.conv`` and ``jaxconv.linear`` are the functions; their modules are ``convolution`` and ``affine``.
    oracle: the module objects."""
    assert callable(jaxconv.conv) and callable(jaxconv.linear)
    assert jaxconv.convolution.conv is jaxconv.conv and jaxconv.affine.linear is jaxconv.linear
    for name in jaxconv.__all__:
        obj = getattr(jaxconv, name)
        assert not (callable(obj) and hasattr(sys.modules.get(f"jaxconv.{name}"), "__file__")), f"jaxconv.{name} hides a module"
