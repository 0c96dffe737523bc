"""Training throughput (examples/s) per device count; prints a table and writes JSON.

    python tools/bench_train.py --devices 1,2,4 --steps 50 --output bench_train.json
    python tools/bench_train.py --devices 1 --no-simulate --global-batch-size 1024 --steps 3000   # one GPU

Each device count runs in its own process, on CPU devices simulated with
XLA_FLAGS=--xla_force_host_platform_device_count=N unless `--no-simulate`, training's own loop
(`training.train.jit_train_steps`: poses resident on the devices, augmented there, `--steps-per-call` steps per
compiled call) on synthetic poses. Simulated CPU devices share the same cores, so on a CPU the table shows the
sharding overhead, not a speed-up. The JSON holds the machine, command, load and one row per worker.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

# tools/ is on the path when this runs as a script
from bench_common import command_line, load_average, machine_info, summary_line, tool_parser, utc_now, write_json

REPO = pathlib.Path(__file__).resolve().parents[1]
COLUMNS = (("devices", "devices", "", 7), ("platform", "platform", "", 8), ("per call", "steps_per_call", "", 8),
           ("batch", "global_batch_size", "", 5), ("compile s", "compile_seconds", ".2f", 9),
           ("steps/s", "steps_per_second", ".2f", 8), ("examples/s", "examples_per_second", ".0f", 10), ("ex/s/device", "examples_per_second_per_device", ".0f", 11))

WORKER = """
import json, time, jax
from posediff_jax.training.config_schema import default_config
from posediff_jax.training import sharding, train_state
from posediff_jax.training.train import device_resident, jit_train_steps, step_indices, training_up_vectors
from posediff_jax.data.synthetic import synthetic_poses
from posediff_jax.diffusion.losses import make_denoising_loss
from posediff_jax.diffusion.schedules import VPSchedule
from posediff_jax.normalization import compute_normalization_stats
from posediff_jax.data.pipeline import PoseBatchIterator

config = default_config()
config.model.width, config.model.depth = {width}, {depth}
batch_size, steps, steps_per_call = {batch_size}, {steps}, {steps_per_call}
poses = synthetic_poses(max(4 * batch_size, 4096), seed=0)
network = train_state.make_network(config.model)
optimizer = train_state.make_optimizer(config.training)
loss_fn, normalization = make_denoising_loss(VPSchedule('cosine')), compute_normalization_stats(poses)
mesh = sharding.make_data_mesh()
rep = sharding.replicated(mesh)
state = jax.jit(lambda k: train_state.create_train_state(network, optimizer, k), out_shardings=rep)(jax.random.PRNGKey(0))
key = jax.random.PRNGKey(1)
steps_fn = jit_train_steps(network, optimizer, loss_fn, normalization, 0.999, config.data, mesh)
resident, up = device_resident(poses, rep), device_resident(training_up_vectors(None, len(poses)), rep)
iterator = PoseBatchIterator(poses, batch_size, seed=0, augment=False)
step_sharding = sharding.step_batch_sharded(mesh)
def run(first, count):
    global state
    for call_start in range(first, first + count, steps_per_call):
        indices = step_indices(iterator, call_start, steps_per_call, step_sharding)
        state, losses = steps_fn(state, resident, up, indices, key, jax.random.fold_in(key, 2))
    return losses
start = time.perf_counter()
run(0, steps_per_call).block_until_ready()
compile_seconds = time.perf_counter() - start
steps = -(-steps // steps_per_call) * steps_per_call  # whole calls
start = time.perf_counter()
run(steps_per_call, steps).block_until_ready()
seconds = time.perf_counter() - start
print(json.dumps({{"devices": jax.device_count(), "platform": jax.devices()[0].platform,
                   "steps_per_call": steps_per_call, "global_batch_size": batch_size, "steps": steps,
                   "compile_seconds": compile_seconds, "steps_per_second": steps / seconds,
                   "examples_per_second": steps * batch_size / seconds,
                   "examples_per_second_per_device": steps * batch_size / seconds / jax.device_count()}}))
"""


def run_worker(devices: int, args) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    if args.simulate_cpu_devices:
        env.update(JAX_PLATFORMS="cpu", XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    code = WORKER.format(width=args.width, depth=args.depth, batch_size=args.global_batch_size, steps=args.steps,
                         steps_per_call=args.steps_per_call)
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"worker with {devices} devices failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = tool_parser(__doc__)
    parser.add_argument("--devices", default="1,2,4", help="comma-separated device counts")
    parser.add_argument("--steps", type=int, default=50, help="timed steps (rounded up to whole calls)")
    parser.add_argument("--steps-per-call", type=int, default=50)
    parser.add_argument("--global-batch-size", type=int, default=256)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--no-simulate", dest="simulate_cpu_devices", action="store_false",
                        help="use the real accelerators instead of simulated CPU devices")
    parser.add_argument("--output", default="bench_train.json")
    args = parser.parse_args(argv)
    machine, date = machine_info(with_devices=False), utc_now()  # the workers own the devices
    rows = [run_worker(int(count), args) for count in args.devices.split(",")]
    load_end = load_average()
    print(summary_line(date, machine, f"jax {machine['versions']['jax']}", load_end))
    header = " | ".join(f"{title:>{width}}" for title, _, _, width in COLUMNS)
    print(header + "\n" + "-" * len(header))
    for row in rows:
        print(" | ".join(f"{row[key]:>{width}{spec}}" for _, key, spec, width in COLUMNS))
    write_json({"date": date, "command": command_line(__file__, argv), "machine": machine,
                "load_average_end": load_end, "rows": rows, "args": vars(args)}, args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
