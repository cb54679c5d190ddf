"""Sharding on a 4-device CPU mesh: same results sharded as unsharded, and the README's output shardings.

A subprocess asks XLA for 4 host devices (``XLA_FLAGS=--xla_force_host_platform_device_count=4``,
which must be set before JAX starts, hence the subprocess) and runs conv, conv_transpose,
every pool kind, unfold, interpolate, pad and a small NNX network three ways: unsharded,
with the input's batch dim sharded over the 4 devices, and with its height dim sharded
(XLA's SPMD partitioner inserts the halo exchange for windows that cross device
boundaries). Both the eager call (jaxconv's own jit) and a call inside the user's
``jax.jit`` are checked. The output shardings are those the README's table states
(``SHARDED_DIM``): a batch-sharded input gives a batch-sharded output (except
max_unpool's scatter, which XLA replicates); a height-sharded input gives a
height-sharded output for convs, max/min/lp pools and pad, and a replicated one for
avg/adaptive-avg pools, unpooling, interpolate and any output with fewer rows than devices.

Found here: XLA's SPMD partitioner (jax 0.10) miscompiles a strided slice that takes a
single element of a sharded dim (wrong values, or an HLO verifier error), which global
pooling, unfold and the GEMM conv path hit on height-sharded inputs; they now slice with
stride 1 there (``*_one_row`` and ``*_to_1`` rows below, and the network's global pool).

oracle: the unsharded computation on one device (and the README's sharding table).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    r"""
    import json
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    from flax import nnx
    import jaxconv
    from jaxconv import nn

    assert jax.device_count() == 4, jax.devices()
    mesh = Mesh(np.array(jax.devices()), ("d",))
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((4, 3, 16, 12)).astype(np.float32))
    w = jnp.asarray(rng.standard_normal((5, 3, 3, 3)).astype(np.float32))
    wt = jnp.asarray(rng.standard_normal((3, 2, 3, 3)).astype(np.float32))
    b = jnp.asarray(rng.standard_normal((5,)).astype(np.float32))
    w16 = jnp.asarray(rng.standard_normal((4, 3, 16, 3)).astype(np.float32))

    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, rngs=nnx.Rngs(0)), nn.BatchNorm2d(8, use_running_average=True), nn.ReLU(),
        nn.MaxPool2d(2), nn.Conv2d(8, 8, 3, stride=2, padding=1, padding_mode="reflect", rngs=nnx.Rngs(1)), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4, rngs=nnx.Rngs(2)))

    def winograd_grad(x):  # the Winograd formulation (forced: these channels are below the CPU rule's) and its input gradient
        with jaxconv.policy.conv_algorithm("winograd"):
            return jax.grad(lambda x: jnp.sum(jaxconv.conv2d(x, w, b, 1, 1) ** 2))(x)

    def tap_gemm_wgrad(x):  # the weight gradient as one GEMM per tap (forced: these channels are below the CPU rule's)
        with jaxconv.policy.conv_algorithm(("direct", "direct", "tap_gemm")):
            return jax.grad(lambda w: jnp.mean(jaxconv.conv2d(x, w, b, 1, 1) ** 2))(w)  # mean: O(1) values for the 1e-4 bound

    def big(x):  # 4 x 3 x 208 x 204: one image's im2col columns (2.7 MB) exceed half a "gemm_scan" step
        return jnp.tile(x, (1, 1, 13, 17))

    def chunked_wgrad(x):  # the weight gradient as the chunked im2col GEMM (a scan over the batch), forced
        with jaxconv.policy.conv_algorithm(("direct", "direct", "gemm_scan")):
            return jax.grad(lambda w: jnp.mean(jaxconv.conv2d(big(x), w, b, 2, 1) ** 2))(w)

    def chunked_plan_xgrad(x):  # the CPU plan of a strided NCHW conv with 32 outputs: the chunked GEMM's dw beside
        w32 = jnp.tile(w, (7, 1, 1, 1))[:32]
        return jax.grad(lambda x: jnp.mean(jaxconv.conv2d(big(x), w32, None, 2, 1) ** 2))(x)

    w24 = jnp.tile(w, (7, 8, 1, 1))[:32]  # (32, 24, 3, 3)

    def strided_gemm_forward(x):  # a strided NCHW conv whose CPU plan's forward is the plain im2col GEMM
        xx = jnp.tile(x, (1, 8, 1, 1))
        assert jaxconv.policy.cpu_plan(jaxconv.shapes.conv_spec(
            "conv2d", xx.shape, w24.shape, None, 2, 1, 1, 1, "zeros", False))[0] == "gemm"
        return jaxconv.conv2d(xx, w24, None, 2, 1)

    w7 = jnp.asarray(rng.standard_normal((3, 1, 7, 7)).astype(np.float32))

    OPS = {
        "conv2d": lambda x: jaxconv.conv2d(x, w, b, 1, 1),
        # the 7x7 depthwise fold, its output behind jaxconv.fusion.cpu_materialize (a conditional whose predicate
        # reads one element: broadcast to every device), and its gradient
        "conv2d_depthwise_7x7": lambda x: jaxconv.conv2d(x, w7, None, 1, 3, 1, 3),
        "conv2d_depthwise_7x7_grad": lambda x: jax.grad(lambda x: jnp.sum(jaxconv.conv2d(x, w7, None, 1, 3, 1, 3) ** 2))(x),
        "conv2d_strided_gemm_forward": strided_gemm_forward,
        "conv2d_chunked_gemm_weight_grad": chunked_wgrad,
        "conv2d_chunked_plan_input_grad": chunked_plan_xgrad,
        "conv2d_tap_gemm_weight_grad": tap_gemm_wgrad,
        "conv2d_winograd_grad": winograd_grad,
        "conv2d_dilated_reflect": lambda x: jaxconv.conv2d(x, w, b, 1, 2, 2, padding_mode="reflect"),
        "conv_transpose2d": lambda x: jaxconv.conv_transpose2d(x, wt, None, 2, 1, 1),
        "max_pool2d": lambda x: jaxconv.max_pool2d(x, 3, 2, 1),
        "max_pool2d_indices": lambda x: jaxconv.max_pool2d(x, 3, 1, 1, return_indices=True)[1],
        "min_pool2d": lambda x: jaxconv.min_pool2d(x, 2),
        "avg_pool2d": lambda x: jaxconv.avg_pool2d(x, 3, 2, 1, True, False),
        "lp_pool2d": lambda x: jaxconv.lp_pool2d(x, 2, 2),
        "adaptive_avg_pool2d": lambda x: jaxconv.adaptive_avg_pool2d(x, (5, 3)),
        "adaptive_max_pool2d": lambda x: jaxconv.adaptive_max_pool2d(x, (4, 3)),
        "max_unpool2d": lambda x: jaxconv.max_unpool2d(*jaxconv.max_pool2d(x, 2, return_indices=True), 2),
        "interpolate_bilinear": lambda x: jaxconv.interpolate(x, scale_factor=2, mode="bilinear"),
        "unfold": lambda x: jaxconv.unfold(x, 3, 1, 1, 2),
        "pad_reflect": lambda x: jaxconv.pad(x, 2, "reflect"),
        # one output row of a height-sharded input (global pooling): XLA's SPMD partitioner
        # miscompiled the strided slices that took it (wrong values or a verifier error)
        "max_pool2d_one_row": lambda x: jaxconv.max_pool2d(x, (16, 3), (16, 3)),
        "adaptive_avg_pool2d_to_1": lambda x: jaxconv.adaptive_avg_pool2d(x, 1),
        "adaptive_max_pool2d_to_1": lambda x: jaxconv.adaptive_max_pool2d(x, (1, 2)),
        "unfold_one_row": lambda x: jaxconv.unfold(x, (13, 3), 1, 0, (4, 1)),
        "conv2d_one_row_wide": lambda x: jaxconv.conv2d(jnp.tile(x, (1, 1, 1, 6)), w16, None, (4, 1)),
        "network": lambda x: net(x),
        "network_grad": lambda x: jax.grad(lambda x: jnp.sum(net(x) ** 2))(x),
    }
    SHARDINGS = {"batch": P("d"), "height": P(None, None, "d")}
    # The user's jax.jit around a call: checked for a few ops (compiles are the cost here).
    JITTED = {"conv2d", "max_pool2d", "adaptive_avg_pool2d_to_1", "network_grad"}

    def spec(a):
        s = a.sharding
        if isinstance(s, NamedSharding):
            return [None if p is None else str(p) for p in tuple(s.spec) + (None,) * (a.ndim - len(s.spec))]
        return "replicated" if s.is_fully_replicated else str(s)

    out = {}
    for name, f in OPS.items():
        y0 = np.asarray(jax.device_get(f(x)))
        res = {}
        for sname, ps in SHARDINGS.items():
            xs = jax.device_put(x, NamedSharding(mesh, ps))
            for how, g in (("eager", f), ("jit", jax.jit(f))) if name in JITTED else (("eager", f),):
                y = g(xs)
                diff = float(np.max(np.abs(np.asarray(jax.device_get(y)).astype(np.float64) - y0)))
                res[f"{sname}/{how}"] = dict(diff=diff, scale=float(np.max(np.abs(y0))), spec=spec(y), shape=list(y.shape),
                                             devices=len(y.sharding.device_set))
        out[name] = res
    print("RESULT " + json.dumps(out))
    """
)

# The README's table: the output's sharded dim for a batch-sharded / height-sharded input
# ("replicated": XLA gathers the result). Eager calls and calls under jax.jit agree.
# These are XLA's SPMD partitioner's choices (jax 0.10); a JAX upgrade that changes one
# fails here, and the README table is updated with it.
SHARDED_DIM = {
    "conv2d": ("batch", "height"),
    "conv2d_dilated_reflect": ("batch", "height"),
    "conv2d_depthwise_7x7": ("batch", "height"),
    "conv2d_depthwise_7x7_grad": ("batch", "height"),
    "conv2d_strided_gemm_forward": ("batch", "height"),  # the whole batch in one GEMM: no scan to gather it
    "conv2d_winograd_grad": ("batch", "height"),
    "conv2d_tap_gemm_weight_grad": ("replicated", "replicated"),  # a sum over the sharded dim
    "conv2d_chunked_gemm_weight_grad": ("replicated", "replicated"),  # a sum over the sharded dim
    "conv2d_chunked_plan_input_grad": ("batch", "replicated"),  # as XLA's own conv: the plan's dw leaves it alone
    "conv_transpose2d": ("batch", "height"),
    "max_pool2d": ("batch", "height"),
    "max_pool2d_indices": ("batch", "height"),
    "min_pool2d": ("batch", "height"),
    "avg_pool2d": ("batch", "replicated"),
    "lp_pool2d": ("batch", "height"),
    "adaptive_avg_pool2d": ("batch", "replicated"),
    "adaptive_max_pool2d": ("batch", "height"),
    "max_unpool2d": ("replicated", "replicated"),
    "interpolate_bilinear": ("batch", "replicated"),
    "unfold": ("batch", "blocks"),
    "pad_reflect": ("batch", "height"),
    "max_pool2d_one_row": ("batch", "replicated"),
    "adaptive_avg_pool2d_to_1": ("batch", "replicated"),
    "adaptive_max_pool2d_to_1": ("batch", "replicated"),
    "unfold_one_row": ("batch", "replicated"),
    "conv2d_one_row_wide": ("batch", "replicated"),
    "network": ("batch", "replicated"),
    "network_grad": ("batch", "height"),
}
EXACT = {"max_pool2d", "max_pool2d_indices", "min_pool2d", "max_unpool2d", "pad_reflect", "unfold", "adaptive_max_pool2d",
         "max_pool2d_one_row", "adaptive_max_pool2d_to_1", "unfold_one_row"}


def _spec_of(kind: str, ndim: int) -> list[str | None]:
    spec: list[str | None] = [None] * ndim
    if kind == "batch":
        spec[0] = "d"
    elif kind == "height":
        spec[2] = "d"
    elif kind == "blocks":  # unfold's (N, C*kh*kw, L): the blocks dim follows the height
        spec[-1] = "d"
    return spec


@lru_cache(maxsize=1)
def _results() -> dict:
    env = dict(os.environ)
    # opt level 0: faster compiles, same semantics (both sides of every comparison use it)
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=4"
                        " --xla_backend_optimization_level=0").strip()
    env["JAX_PLATFORMS"] = "cpu"
    env.pop("JAX_ENABLE_X64", None)
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def test_sharded_equals_unsharded_with_readme_shardings():
    """Batch- and height-sharded inputs give the unsharded results, with the README's output shardings.

    One test (one subprocess) for every op in ``SHARDED_DIM``, eager and under jax.jit:
    selections (max pools, unpool, pad, unfold) are bit-exact, arithmetic agrees to float32
    rounding (XLA may sum a sharded reduction in another order), and the output sharding
    is the README table's (``SHARDED_DIM``).
    oracle: the same op on the unsharded input; the README table.
    """
    results = _results()
    assert set(results) == set(SHARDED_DIM)
    problems = []
    for name, res in results.items():
        assert {"batch/eager", "height/eager"} <= set(res)
        for key, r in res.items():
            # float32 rounding grows with the values: 1e-4, or 1e-5 of the largest |output| where that is more
            # (conv2d_strided_gemm_forward's 216-term sums reach |y| = 139; they differed by 1.07e-4 on an Intel Xeon)
            tol = 0.0 if name in EXACT else max(1e-4, 1e-5 * r["scale"])
            if r["diff"] > tol:
                problems.append(f"{name} {key}: max |sharded - unsharded| = {r['diff']}")
            want = _spec_of(SHARDED_DIM[name][0 if key.startswith("batch") else 1], len(r["shape"]))
            if r["spec"] != want:
                problems.append(f"{name} {key}: output sharding {r['spec']}, README says {want}")
            if r["devices"] != 4:
                problems.append(f"{name} {key}: result on {r['devices']} devices")
    assert not problems, "\n".join(problems)


def test_readme_states_the_sharding_table():
    """The README's "Transformations and sharding" section has the table. oracle: README.md."""
    readme = (ROOT / "README.md").read_text()
    assert "## Transformations and sharding" in readme, "README lacks its Transformations and sharding section"
    section = readme.split("## Transformations and sharding", 1)[1].split("\n## ", 1)[0]
    for word in ("batch", "height", "replicated", "max_unpool2d", "avg_pool2d", "interpolate"):
        assert word in section
