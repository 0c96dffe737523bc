"""Training throughput (examples/s) per device count; prints a table and writes JSON.

Each device count runs in its own process (CPU devices are simulated with
XLA_FLAGS=--xla_force_host_platform_device_count=N; on a GPU/TPU host pass --devices matching real devices).
The step is the real sharded training step of `posediff_jax.training.train` on synthetic poses.

    python tools/bench_train.py --devices 1,2,4 --steps 50 --output bench_train.json

Simulated CPU devices share the same cores, so on a CPU the table shows the sharding overhead, not a speed-up.
The JSON records the machine (CPU model from lscpu, GPUs from nvidia-smi, cores), versions, date, command and
the load average before and after (tools/bench_sampler.py's helpers), and each row the worker's devices.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import subprocess
import sys
import textwrap

from bench_sampler import cpu_model, gpu_description, load_average, versions  # tools/ is sys.path[0]

REPO = pathlib.Path(__file__).resolve().parents[1]

WORKER = """
import json, time, jax
from posediff_jax.training.config_schema import default_config
from posediff_jax.training import sharding, train_state
from posediff_jax.training.train import make_train_step
from posediff_jax.data.synthetic import synthetic_poses
from posediff_jax.diffusion.losses import make_denoising_loss
from posediff_jax.diffusion.schedules import VPSchedule
from posediff_jax.normalization import compute_normalization_stats
from posediff_jax.data.pipeline import PoseBatchIterator

config = default_config()
config.model.width, config.model.depth = {width}, {depth}
batch_size, steps = {batch_size}, {steps}
poses = synthetic_poses(max(4 * batch_size, 4096), seed=0)
network = train_state.make_network(config.model)
optimizer = train_state.make_optimizer(config.training)
step_fn = make_train_step(network, optimizer, make_denoising_loss(VPSchedule('cosine')),
                          compute_normalization_stats(poses), 0.999)
mesh = sharding.make_data_mesh()
rep, bat = sharding.replicated(mesh), sharding.batch_sharded(mesh)
state = jax.jit(lambda k: train_state.create_train_state(network, optimizer, k), out_shardings=rep)(jax.random.PRNGKey(0))
step = jax.jit(step_fn, in_shardings=(rep, bat, rep), out_shardings=(rep, rep), donate_argnums=0)
iterator = PoseBatchIterator(poses, batch_size, seed=0)
batches = [sharding.make_global_batch(iterator.batch_at(i), mesh) for i in range(8)]
start = time.perf_counter()
state, loss = step(state, batches[0], jax.random.PRNGKey(1)); loss.block_until_ready()
compile_seconds = time.perf_counter() - start
start = time.perf_counter()
for i in range(steps):
    state, loss = step(state, batches[i % 8], jax.random.PRNGKey(i))
loss.block_until_ready()
seconds = time.perf_counter() - start
print(json.dumps({{"devices": jax.device_count(), "platform": jax.devices()[0].platform,
                   "global_batch_size": batch_size, "steps": steps, "compile_seconds": compile_seconds,
                   "steps_per_second": steps / seconds, "examples_per_second": steps * batch_size / seconds,
                   "examples_per_second_per_device": steps * batch_size / seconds / jax.device_count()}}))
"""


def machine_record() -> dict:
    """CPU model, cores, GPUs, versions and load, without creating a JAX backend in this process (the workers
    own the devices)."""
    return {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "gpus": gpu_description(), "versions": versions(),
            "load_average": load_average()}


def run_worker(devices: int, args) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    if args.simulate_cpu_devices:
        env.update(JAX_PLATFORMS="cpu", XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    code = WORKER.format(width=args.width, depth=args.depth, batch_size=args.global_batch_size, steps=args.steps)
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"worker with {devices} devices failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", default="1,2,4", help="comma-separated device counts")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--global-batch-size", type=int, default=256)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--no-simulate", dest="simulate_cpu_devices", action="store_false",
                        help="use the real accelerators instead of simulated CPU devices")
    parser.add_argument("--output", default="bench_train.json")
    args = parser.parse_args(argv)
    machine = machine_record()
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    rows = [run_worker(int(count), args) for count in args.devices.split(",")]
    load_end = load_average()
    print(f"{date}: {machine['cpu_model']} ({machine['cpu_count']} cores)"
          f"{'; ' + '; '.join(machine['gpus']) if machine['gpus'] else ''}; jax {machine['versions']['jax']}; "
          f"load {machine['load_average']} -> {load_end}")
    header = f"{'devices':>7} | {'platform':>8} | {'batch':>5} | {'compile s':>9} | {'steps/s':>8} | {'examples/s':>10} | {'ex/s/device':>11}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['devices']:>7} | {row['platform']:>8} | {row['global_batch_size']:>5} | {row['compile_seconds']:>9.2f} | "
              f"{row['steps_per_second']:>8.2f} | {row['examples_per_second']:>10.0f} | {row['examples_per_second_per_device']:>11.0f}")
    command = "python tools/bench_train.py " + " ".join(sys.argv[1:] if argv is None else argv)
    pathlib.Path(args.output).write_text(json.dumps(
        {"date": date, "command": command, "machine": machine, "load_average_end": load_end, "rows": rows,
         "args": vars(args)}, indent=1))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
