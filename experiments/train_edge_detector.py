#!/usr/bin/env python
"""Learn edge-detecting kernels with jaxconv and optax.

Part 1 is seed 001 (d2l "convolutional layers") exactly: ``X = ones(6, 8)`` with
columns 2..5 set to 0, ``Y = corr2d(X, [[1, -1]])``, and a 1x2 kernel without bias
fitted by ``optax.sgd(3e-2)`` on the summed squared error for 10 steps, printing the
loss every 2 steps as the seed does. Training then continues (``--optimizer``,
default Adam) until every weight is within ``--tol`` of ``[1, -1]``.

Part 2 goes beyond the seed: a 3x3 kernel learns the Sobel-x filter from random
patches of a real photograph (matplotlib's sample ``grace_hopper.jpg``, greyscale,
downscaled 4x by a strided jaxconv box filter), with a jitted train step over
batches of patches, until every weight is within ``--tol`` of the target.

With ``--devices N`` the batch of patches is sharded over a 1-d
``jax.sharding.Mesh`` of N devices and the parameters are replicated: the same
program runs data-parallel, with the same result as one device (up to float32
summation order). On a CPU-only machine the script asks XLA for N host devices.
With ``--distributed`` it calls ``jax.distributed.initialize()`` first, so the same
command, started once per host, trains over every device of every host.

Writes into ``--out``: ``metrics.json``, ``loss.png``, ``kernels.png``,
``edges.png`` and ``checkpoint.npz`` (written atomically: temp file, fsync,
``os.replace``). ``--resume`` continues from the checkpoint and ends with the same
kernels as an uninterrupted run; a corrupt or mismatched checkpoint is an error and
is left untouched.

Exit status: 0 when both kernels reach the tolerance, 1 when not (the step budget
ran out), 2 for a bad argument or an unusable checkpoint, 130 on Ctrl-C (after
saving a checkpoint).

    python experiments/train_edge_detector.py                   # ~6 s on 2 CPU cores
    python experiments/train_edge_detector.py --steps 100       # stops early, exit 1
    python experiments/train_edge_detector.py --steps 3000 --resume
    python experiments/train_edge_detector.py --devices 4       # data parallel
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

CHECKPOINT = "checkpoint.npz"
CHECKPOINT_FORMAT = 1
OPTIMIZERS = ("adam", "sgd", "momentum", "rmsprop")
CHUNK = 25  # part 2 steps per jitted call
DEFAULT_LR = {"adam": 0.1, "sgd": 0.01, "momentum": 0.005, "rmsprop": 0.005}

# Part 1: seed 001, verbatim.
SEED_LR = 3e-2
SEED_STEPS = 10
SEED_PRINT_EVERY = 2
EDGE_KERNEL = [[1.0, -1.0]]
SOBEL_X = [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]
LAPLACIAN = [[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]]
TARGETS = {"sobel_x": SOBEL_X, "laplacian": LAPLACIAN}


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be resumed from (corrupt, or written by other options)."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Learn edge-detecting convolution kernels with jaxconv + optax (seed 001, then Sobel-x on a photo).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--steps", type=int, default=3000,
                   help="step budget of each part after the 10 seed steps; training stops earlier once within --tol")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate of --optimizer (default: adam 0.1, sgd 0.01, momentum 0.005, rmsprop 0.005)")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam",
                   help="optimizer after the seed's 10 SGD steps, and for part 2")
    p.add_argument("--seed", type=int, default=0, help="PRNG seed: initial kernels and patch positions")
    p.add_argument("--out", type=Path, default=Path("runs/edge_detector"), help="output directory")
    p.add_argument("--resume", action="store_true", help="continue from --out/checkpoint.npz")
    p.add_argument("--devices", type=int, default=1, help="data-parallel over this many devices (batch sharded)")
    p.add_argument("--distributed", action="store_true",
                   help="call jax.distributed.initialize() first (one process per host; see the README)")
    p.add_argument("--coordinator", default=None, help="with --distributed: host:port of process 0 (else auto-detected)")
    p.add_argument("--num-processes", type=int, default=None, help="with --distributed (else auto-detected)")
    p.add_argument("--process-id", type=int, default=None, help="with --distributed (else auto-detected)")
    p.add_argument("--tol", type=float, default=1e-3, help="stop once every weight is within this of its target")
    p.add_argument("--target", choices=sorted(TARGETS), default="sobel_x", help="part 2's target filter")
    p.add_argument("--batch", type=int, default=32, help="patches per step (divisible by --devices)")
    p.add_argument("--patch", type=int, default=24, help="patch side in pixels")
    p.add_argument("--downscale", type=int, default=4, help="photo downscaling factor (box filter, stride = factor)")
    p.add_argument("--checkpoint-every", type=int, default=250, help="steps between checkpoints")
    p.add_argument("--no-plots", action="store_true", help="skip the PNGs (metrics and checkpoint are still written)")
    args = p.parse_args(argv)
    if args.lr is None:
        args.lr = DEFAULT_LR[args.optimizer]
    for name in ("steps", "checkpoint_every"):
        if getattr(args, name) < 0 or (name == "checkpoint_every" and args.checkpoint_every < 1):
            p.error(f"--{name.replace('_', '-')} must be >= {1 if name == 'checkpoint_every' else 0}")
    for name in ("devices", "batch", "downscale"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1")
    if args.patch < 3:
        p.error("--patch must be >= 3 (the kernel is 3x3)")
    if not args.lr > 0 or not args.tol > 0:
        p.error("--lr and --tol must be > 0")
    if args.batch % args.devices:
        p.error(f"--batch {args.batch} must be divisible by --devices {args.devices} (the batch is sharded)")
    return args


def _set_xla_flags(n_devices: int) -> None:
    # XLA reads XLA_FLAGS once, when jax initialises its backends, so this runs before the
    # first `import jax`; flags the user already set win.
    flags = os.environ.get("XLA_FLAGS", "")
    extra = []
    if n_devices > 1 and "xla_force_host_platform_device_count" not in flags:
        extra.append(f"--xla_force_host_platform_device_count={n_devices}")  # only affects the CPU platform
    if "xla_backend_optimization_level" not in flags:
        # Compiling, not running, dominates this tiny job: unoptimised CPU code compiles ~40% faster.
        extra.append("--xla_backend_optimization_level=0")
    if extra:
        os.environ["XLA_FLAGS"] = " ".join([flags, *extra]).strip()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _set_xla_flags(args.devices)
    try:
        return run(args)
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


# ---------------------------------------------------------------------------------------
# Everything below imports jax lazily (after the XLA flag above is set).
# ---------------------------------------------------------------------------------------

def config_of(args: argparse.Namespace) -> dict[str, Any]:
    """The options a checkpoint must agree with to be resumed (not --steps, --devices, --out)."""
    return {"format": CHECKPOINT_FORMAT, "optimizer": args.optimizer, "lr": args.lr, "seed": args.seed,
            "tol": args.tol, "target": args.target, "batch": args.batch, "patch": args.patch,
            "downscale": args.downscale}


def make_optimizer(name: str, lr: float) -> Any:
    import optax

    return {"adam": lambda: optax.adam(lr), "sgd": lambda: optax.sgd(lr),
            "momentum": lambda: optax.sgd(lr, momentum=0.9), "rmsprop": lambda: optax.rmsprop(lr)}[name]()


def load_photo(downscale: int) -> Any:
    """Grace Hopper, greyscale, averaged over ``downscale`` x ``downscale`` blocks, standardised."""
    import matplotlib.cbook as cbook
    import numpy as np
    from PIL import Image

    with cbook.get_sample_data("grace_hopper.jpg") as f:
        grey = np.asarray(Image.open(f).convert("L"), dtype=np.float32) / 255.0
    # Block means = a box-filter conv with stride = its size; NumPy avoids one more XLA compile.
    h, w = grey.shape[0] // downscale, grey.shape[1] // downscale
    small = grey[: h * downscale, : w * downscale].reshape(h, downscale, w, downscale).mean(axis=(1, 3))
    # Zero mean and unit variance keep the regression well conditioned (no huge DC eigenvalue).
    return ((small - small.mean()) / small.std()).astype(np.float32)


def save_checkpoint(path: Path, meta: dict[str, Any], arrays: dict[str, Any]) -> None:
    """Write an npz atomically: a temp file in the same directory, fsync, then os.replace."""
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, meta=np.array(json.dumps(meta)), **{k: np.asarray(v) for k, v in arrays.items()})
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load_checkpoint(path: Path, config: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a checkpoint and check it was written by the same options; raise CheckpointError if not."""
    import numpy as np

    if not path.exists():
        raise CheckpointError(f"--resume: no checkpoint at {path} (run once without --resume first)")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(str(arrays.pop("meta")))
        saved = meta["config"]
    except Exception as e:  # any unreadable file is reported the same way
        raise CheckpointError(f"checkpoint {path} is corrupt or not a checkpoint of this script ({type(e).__name__}: {e}); "
                              "it was left untouched: delete it or pick another --out to start over") from None
    diff = {k: (saved.get(k), v) for k, v in config.items() if saved.get(k) != v}
    if diff:
        what = ", ".join(f"{k}: checkpoint {a!r} vs now {b!r}" for k, (a, b) in diff.items())
        raise CheckpointError(f"checkpoint {path} was written with other options ({what}); rerun with the checkpoint's "
                              "options, or pick another --out to start over; it was left untouched")
    return meta, arrays


def restore_tree(template: Any, arrays: dict[str, Any], prefix: str, path: Path) -> Any:
    """Put the saved leaves ``prefix0, prefix1, ...`` back into ``template``'s tree structure."""
    import jax
    import numpy as np

    leaves, treedef = jax.tree_util.tree_flatten(template)
    try:
        saved = [arrays[f"{prefix}{i}"] for i in range(len(leaves))]
    except KeyError as e:
        raise CheckpointError(f"checkpoint {path} lacks {e.args[0]!r}: it does not match this script's optimizer state") from None
    if f"{prefix}{len(leaves)}" in arrays or any(a.shape != np.shape(b) for a, b in zip(saved, leaves)):
        raise CheckpointError(f"checkpoint {path}: saved {prefix!r} state does not match this script's optimizer state")
    return jax.tree_util.tree_unflatten(treedef, [np.asarray(a, dtype=b.dtype) for a, b in zip(saved, leaves)])


def flat_tree(tree: Any, prefix: str) -> dict[str, Any]:
    import jax
    import numpy as np

    return {f"{prefix}{i}": np.asarray(leaf) for i, leaf in enumerate(jax.tree_util.tree_leaves(tree))}


def _import_matplotlib() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.backends.backend_agg
    import matplotlib.figure


def run(args: argparse.Namespace) -> int:
    t_start = time.perf_counter()
    # Import matplotlib (~0.5 s) on a second thread: XLA compiles without the GIL meanwhile. NumPy is
    # imported here first: both threads import it (matplotlib and jax), and two threads initialising
    # NumPy's C extension at once can hand one of them the partly initialised module ("cannot import
    # name '__cpu_features__' ... partially initialized module": tests/test_experiments.py failed so
    # once in a fresh-clone CI run, 2026-12-08).
    import numpy  # noqa: F401
    plotting = threading.Thread(target=_import_matplotlib, daemon=True)
    if not args.no_plots:
        plotting.start()
    import jax

    if args.distributed:
        # CPU hosts talk through gloo; GPUs and TPUs bring their own collectives.
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(args.coordinator, args.num_processes, args.process_id)
    import jax.numpy as jnp
    import numpy as np
    import optax
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P
    from tqdm import tqdm

    import jaxconv

    # Every jnp op run eagerly costs an XLA compile (tens of ms on a busy 2-core CPU), so
    # the setup below is plain NumPy and all device work happens in a few jitted functions.
    is_main = jax.process_index() == 0
    devices = jax.devices()
    if args.devices > len(devices):
        raise CheckpointError(f"--devices {args.devices}: only {len(devices)} {jax.default_backend()} device(s) visible "
                              "(on CPU run with XLA_FLAGS=--xla_force_host_platform_device_count=N)")
    mesh = Mesh(np.array(devices[: args.devices]), ("data",))
    replicated = NamedSharding(mesh, P())
    batch_sharded = NamedSharding(mesh, P("data"))

    out: Path = args.out
    ckpt_path = out / CHECKPOINT
    config = config_of(args)
    state: dict[str, Any] = {"p1_step": 0, "p1_seconds": 0.0, "p2_step": 0, "p2_seconds": 0.0}
    arrays: dict[str, Any] = {}
    if args.resume:
        meta, arrays = load_checkpoint(ckpt_path, config)
        try:
            state.update({k: meta[k] for k in state})
        except KeyError as e:
            raise CheckpointError(f"checkpoint {ckpt_path} lacks {e.args[0]!r}; it was left untouched") from None
        print(f"resuming from {ckpt_path}: part 1 at step {state['p1_step']}, part 2 at step {state['p2_step']}")
    elif ckpt_path.exists() and is_main:
        print(f"note: starting fresh; {ckpt_path} will be replaced (use --resume to continue from it)")
    out.mkdir(parents=True, exist_ok=True)
    tol = args.tol
    bar_kw: dict[str, Any] = {"disable": None if is_main else True, "leave": False, "dynamic_ncols": True}

    def checkpoint(**new: Any) -> None:
        state.update(new)
        if is_main:
            save_checkpoint(ckpt_path, {"config": config, **state}, arrays)

    def saved(name: str) -> Any:
        try:
            return arrays[name]
        except KeyError:
            raise CheckpointError(f"checkpoint {ckpt_path} lacks {name!r}; it was left untouched") from None

    rng = np.random.default_rng(args.seed)
    # torch.nn.Conv2d's default init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)): fan_in = 2, then 9.
    w1_init = rng.uniform(-(2**-0.5), 2**-0.5, (1, 1, 1, 2)).astype(np.float32)
    w2_init = rng.uniform(-1 / 3, 1 / 3, (1, 1, 3, 3)).astype(np.float32)

    # ---------------------------------------------------------------- part 1: seed 001
    X = np.ones((6, 8), np.float32)
    X[:, 2:6] = 0.0
    K = np.array(EDGE_KERNEL, np.float32)
    seed_opt, cont_opt = optax.sgd(SEED_LR), make_optimizer(args.optimizer, args.lr)

    def loss1(w: jax.Array) -> jax.Array:
        # The seed's labels, Y = corr2d(X, K): computed inside the jitted step, one compile fewer.
        Y = jaxconv.corr2d(X, K)
        return jnp.sum((jaxconv.conv2d(X[None, None], w) - Y[None, None]) ** 2)

    @jax.jit
    def step1(w: jax.Array, seed_state: Any, cont_state: Any, in_seed_phase: jax.Array) -> Any:
        # The seed prints the loss of the forward pass that produced this step's gradient.
        loss, g = jax.value_and_grad(loss1)(w)

        def seed_update(s: Any) -> Any:
            u, s0 = seed_opt.update(g, s[0], w)
            return optax.apply_updates(w, u), s0, s[1]

        def cont_update(s: Any) -> Any:
            u, s1 = cont_opt.update(g, s[1], w)
            return optax.apply_updates(w, u), s[0], s1

        w, seed_state, cont_state = jax.lax.cond(in_seed_phase, seed_update, cont_update, (seed_state, cont_state))
        return w, seed_state, cont_state, loss, jnp.max(jnp.abs(w[0, 0] - K))

    opt2 = make_optimizer(args.optimizer, args.lr)
    seed_state, cont_state, opt2_state = jax.jit(lambda a, b: (seed_opt.init(a), cont_opt.init(a), opt2.init(b)))(w1_init, w2_init)
    w1 = w1_init
    p1_step, p1_seconds = state["p1_step"], state["p1_seconds"]
    p1_losses: list[float] = []
    if args.resume:
        w1 = saved("p1_w").astype(np.float32)
        p1_losses = [float(v) for v in saved("p1_losses")]
        seed_state = restore_tree(seed_state, arrays, "p1_seed_opt", ckpt_path)
        cont_state = restore_tree(cont_state, arrays, "p1_cont_opt", ckpt_path)
        if w1.shape != w1_init.shape or len(p1_losses) != p1_step:
            raise CheckpointError(f"checkpoint {ckpt_path}: part 1 arrays do not match its step count; it was left untouched")

    def save1(seconds: float) -> None:
        arrays.update(p1_w=np.asarray(w1), p1_losses=np.asarray(p1_losses, np.float32),
                      **flat_tree(seed_state, "p1_seed_opt"), **flat_tree(cont_state, "p1_cont_opt"))
        checkpoint(p1_step=p1_step, p1_seconds=seconds)

    print("part 1 (seed 001): learn K = [[1, -1]] from X -> corr2d(X, K), optax.sgd(3e-2), summed squared error")
    p1_budget = SEED_STEPS + args.steps
    err1 = float(np.max(np.abs(np.asarray(w1)[0, 0] - K)))
    t0 = time.perf_counter()
    interrupted = False
    bar = tqdm(total=p1_budget, initial=p1_step, desc="part 1", **bar_kw)
    try:
        while p1_step < p1_budget and (p1_step < SEED_STEPS or err1 >= tol):
            w1, seed_state, cont_state, loss, err = step1(w1, seed_state, cont_state, np.bool_(p1_step < SEED_STEPS))
            p1_step += 1
            loss_f, err1 = float(loss), float(err)
            p1_losses.append(loss_f)
            if p1_step <= SEED_STEPS and p1_step % SEED_PRINT_EVERY == 0:
                tqdm.write(f"epoch {p1_step}, loss {loss_f:.3f}")
            if p1_step == SEED_STEPS:
                tqdm.write(f"after the seed's {SEED_STEPS} steps: kernel {np.asarray(w1).reshape(-1).round(4).tolist()}; "
                           f"continuing with {args.optimizer}(lr={args.lr}) until within {tol:g} of [1, -1]")
            bar.update(1)
            bar.set_postfix(loss=f"{loss_f:.2e}", err=f"{err1:.1e}", refresh=False)
            if p1_step % args.checkpoint_every == 0:
                save1(p1_seconds + time.perf_counter() - t0)
    except KeyboardInterrupt:
        interrupted = True
    bar.close()
    p1_seconds += time.perf_counter() - t0
    save1(p1_seconds)
    if interrupted:
        print(f"interrupted: checkpoint saved at part 1 step {p1_step}; continue with --resume", file=sys.stderr)
        return 130
    learned1 = np.asarray(w1)[0, 0]
    print(f"part 1: kernel {learned1.tolist()} after {p1_step} steps, max |w - [1, -1]| = {err1:.2e}")

    # ---------------------------------------------------------------- part 2: Sobel-x on a photo
    photo = load_photo(args.downscale)
    H, W = photo.shape
    ps = args.patch
    if ps > min(H, W):
        raise CheckpointError(f"--patch {ps} is larger than the downscaled photo {photo.shape}")
    target = np.array(TARGETS[args.target], np.float32)
    img = jax.device_put(photo, replicated)
    w2 = w2_init
    p2_step, p2_seconds = state["p2_step"], state["p2_seconds"]
    p2_losses: list[float] = []
    if args.resume and p2_step:
        w2 = saved("p2_w").astype(np.float32)
        p2_losses = [float(v) for v in saved("p2_losses")]
        opt2_state = restore_tree(opt2_state, arrays, "p2_opt", ckpt_path)
        if w2.shape != w2_init.shape or len(p2_losses) != p2_step:
            raise CheckpointError(f"checkpoint {ckpt_path}: part 2 arrays do not match its step count; it was left untouched")
    w2, opt2_state = jax.device_put((w2, opt2_state), replicated)

    # The data set: the photo and its target edge map (one conv over the whole photo). The
    # same jitted function later filters the photo with the learned kernel for edges.png.
    filter_photo = jax.jit(lambda img, kernels: jaxconv.conv2d(img[None, None], kernels)[0])
    edge_maps = filter_photo(img, np.stack([target, w2_init[0, 0]])[:, None])  # [target, (unused)]

    def positions(start: int) -> Any:
        # Patch corners depend only on (seed, step): a resumed run sees the same batches. They
        # are drawn on the host because jax.random inside the jitted loop triples its compile time.
        hi = (H - ps + 1, W - ps + 1)
        pos = np.stack([np.random.default_rng([args.seed, s]).integers(0, hi, (args.batch, 2)) for s in range(start, start + CHUNK)])
        return jax.device_put(pos.astype(np.int32), replicated)

    def batch_at(img: jax.Array, edge_map: jax.Array, pos: jax.Array) -> tuple[jax.Array, jax.Array]:
        def crop(src: jax.Array, size: int) -> jax.Array:
            return jax.vmap(lambda p: jax.lax.dynamic_slice(src, (p[0], p[1]), (size, size)))(pos)[:, None]

        x, y = crop(img, ps), crop(edge_map, ps - 2)
        return jax.lax.with_sharding_constraint(x, batch_sharded), jax.lax.with_sharding_constraint(y, batch_sharded)

    def loss2(w: jax.Array, x: jax.Array, y: jax.Array) -> jax.Array:
        return jnp.mean((jaxconv.conv2d(x, w) - y) ** 2)

    @jax.jit
    def chunk2(w: jax.Array, opt_state: Any, img: jax.Array, edge_maps: jax.Array, pos: jax.Array, start: jax.Array,
               budget: jax.Array) -> Any:
        # CHUNK steps per call (one dispatch instead of CHUNK). A step past the budget or
        # after reaching the tolerance leaves the state unchanged, so a run ends on the same
        # step whatever the chunk boundaries, and a resumed run matches an uninterrupted one.
        def body(carry: Any, inputs: Any) -> Any:
            w, s, done = carry
            i, p = inputs
            loss, g = jax.value_and_grad(loss2)(w, *batch_at(img, edge_maps[0], p))
            u, s_new = opt2.update(g, s, w)
            active = jnp.logical_and(jnp.logical_not(done), i < budget)
            w, s = jax.tree_util.tree_map(lambda new, old: jnp.where(active, new, old),
                                          (optax.apply_updates(w, u), s_new), (w, s))
            err = jnp.max(jnp.abs(w[0, 0] - target))
            return (w, s, jnp.logical_or(done, err < tol)), (loss, err, active)

        (w, s, _), (losses, errs, active) = jax.lax.scan(body, (w, opt_state, jnp.bool_(False)),
                                                          (start + jnp.arange(CHUNK), pos))
        return w, s, losses, errs, active

    def save2(seconds: float) -> None:
        arrays.update(p2_w=np.asarray(w2), p2_losses=np.asarray(p2_losses, np.float32), **flat_tree(opt2_state, "p2_opt"))
        checkpoint(p2_step=p2_step, p2_seconds=seconds)

    print(f"part 2: learn a 3x3 {args.target} kernel from {args.batch} random {ps}x{ps} patches per step of "
          f"grace_hopper.jpg ({H}x{W}), {args.optimizer}(lr={args.lr}), {args.devices} device(s)")
    err2 = float(np.max(np.abs(np.asarray(w2)[0, 0] - target)))
    t0 = time.perf_counter()
    bar = tqdm(total=args.steps, initial=p2_step, desc="part 2", **bar_kw)
    try:
        while p2_step < args.steps and err2 >= tol:
            w2, opt2_state, losses, errs, active = chunk2(w2, opt2_state, img, edge_maps, positions(p2_step), np.int32(p2_step),
                                                          np.int32(args.steps))
            n = int(np.asarray(active).sum())
            p2_losses.extend(np.asarray(losses)[:n].tolist())
            err2 = float(np.asarray(errs)[n - 1])
            before, p2_step = p2_step, p2_step + n
            bar.update(n)
            bar.set_postfix(loss=f"{p2_losses[-1]:.2e}", err=f"{err2:.1e}", refresh=False)
            if p2_step // args.checkpoint_every > before // args.checkpoint_every:
                save2(p2_seconds + time.perf_counter() - t0)
    except KeyboardInterrupt:
        interrupted = True
    bar.close()
    p2_seconds += time.perf_counter() - t0
    save2(p2_seconds)
    if interrupted:
        print(f"interrupted: checkpoint saved at part 2 step {p2_step}; continue with --resume", file=sys.stderr)
        return 130
    learned2 = np.asarray(w2)[0, 0]
    print(f"part 2: kernel after {p2_step} steps, max |w - {args.target}| = {err2:.2e}\n{np.array2string(learned2, precision=4)}")

    converged = err1 < tol and err2 < tol
    metrics = {
        "part1": {"final_loss": p1_losses[-1] if p1_losses else None, "learned_kernel": learned1.tolist(),
                  "target_kernel": EDGE_KERNEL, "max_abs_error": err1, "steps": p1_step, "seed_steps": SEED_STEPS,
                  "seed_losses": p1_losses[:SEED_STEPS], "optimizer": f"sgd({SEED_LR}) x {SEED_STEPS}, then {args.optimizer}",
                  "lr": args.lr, "seconds": p1_seconds, "converged": err1 < tol},
        "part2": {"final_loss": p2_losses[-1] if p2_losses else None, "learned_kernel": learned2.tolist(),
                  "target_kernel": TARGETS[args.target], "target": args.target, "max_abs_error": err2, "steps": p2_step,
                  "optimizer": args.optimizer, "lr": args.lr, "batch": args.batch, "patch": ps, "image_shape": [H, W],
                  "seconds": p2_seconds, "converged": err2 < tol},
        "tol": tol, "converged": converged, "devices": args.devices, "backend": jax.default_backend(),
        "jax": jax.__version__, "resumed": bool(args.resume),
    }
    if is_main:
        (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
        if not args.no_plots:
            edges = np.asarray(filter_photo(img, np.stack([target, learned2])[:, None]))
            plotting.join()
            plot(out, p1_losses, p2_losses, learned1, K, learned2, target, photo, edges[0], edges[1], args.target)
    status = "reached" if converged else "NOT reached"
    wrote = f"wrote {out}/{{metrics.json,loss.png,kernels.png,edges.png,{CHECKPOINT}}}" if is_main else \
        f"process {jax.process_index()}: process 0 writes the files"
    print(f"tolerance {tol:g} {status}; {wrote} in {time.perf_counter() - t_start:.1f} s")
    return 0 if converged else 1


def plot(out: Path, l1: list[float], l2: list[float], w1: Any, k1: Any, w2: Any, k2: Any,
         photo: Any, edges_target: Any, edges_learned: Any, target_name: str) -> None:
    """loss.png, kernels.png, edges.png. Figure + Agg directly: no pyplot, no tight_layout (both slow)."""
    import numpy as np
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4))
    ax = fig.add_axes((0.1, 0.13, 0.86, 0.78))
    ax.semilogy(np.arange(1, len(l1) + 1), np.maximum(l1, 1e-30), label="part 1: 1x2 edge kernel (summed SE)")
    ax.semilogy(np.arange(1, len(l2) + 1), np.maximum(l2, 1e-30), label=f"part 2: 3x3 {target_name} (mean SE)")
    ax.axvline(SEED_STEPS, color="grey", ls=":", lw=1, label=f"end of the seed's {SEED_STEPS} SGD steps")
    ax.set(xlabel="step", ylabel="loss (log scale)", title="training loss")
    ax.legend(fontsize=8, loc="upper right")  # a fixed place: "best" scans every point
    fig.savefig(out / "loss.png", dpi=80)

    fig = Figure(figsize=(6, 5))
    boxes = ((0.03, 0.72, 0.44, 0.18), (0.53, 0.72, 0.44, 0.18), (0.03, 0.03, 0.44, 0.6), (0.53, 0.03, 0.44, 0.6))
    for box, mat, title in zip(boxes, (w1, k1, w2, k2), ("learned 1x2", "target [[1, -1]]", "learned 3x3", target_name)):
        ax = fig.add_axes(box)
        ax.imshow(mat, cmap="coolwarm", vmin=-2.5, vmax=2.5)
        for (i, j), v in np.ndenumerate(mat):
            ax.text(j, i, f"{v:.4f}", ha="center", va="center", fontsize=8)
        ax.set(title=title, xticks=[], yticks=[])
    fig.savefig(out / "kernels.png", dpi=80)

    fig = Figure(figsize=(10, 4))
    lim = float(np.percentile(np.abs(edges_target), 99.5))  # the strongest few edges would wash out the rest
    diverging = {"cmap": "RdBu", "vmin": -lim, "vmax": lim}
    for j, (im, title, kw) in enumerate(zip((photo, edges_target, edges_learned),
                                            ("photo (greyscale, downscaled)", f"target edges ({target_name})", "learned edges"),
                                            ({"cmap": "gray"}, diverging, diverging))):
        ax = fig.add_axes((0.01 + j / 3, 0.02, 0.31, 0.88))
        ax.imshow(im, **kw)
        ax.set(title=title, xticks=[], yticks=[])
    fig.savefig(out / "edges.png", dpi=80)


if __name__ == "__main__":
    sys.exit(main())
