"""Training throughput (examples/s) per device count; prints a table and writes JSON.

Each device count runs in its own process (CPU devices are simulated with
XLA_FLAGS=--xla_force_host_platform_device_count=N; on a GPU/TPU host pass --devices matching real devices).
The loop is training's (`posediff_jax.training.train.jit_train_steps`: poses resident on the devices, augmented
there, `--steps-per-call` steps per compiled call) on synthetic poses, beside the loop it replaced (`host`: NumPy
augmentation and a host -> device batch copy every step, one step per call) in the same run.

    python tools/bench_train.py --devices 1,2,4 --steps 50 --output bench_train.json
    python tools/bench_train.py --devices 1 --no-simulate --global-batch-size 1024 --steps 3000   # one GPU

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
from posediff_jax.training.train import (device_resident, jit_train_steps, make_train_step, step_indices,
                                         training_up_vectors)
from posediff_jax.data.synthetic import synthetic_poses
from posediff_jax.diffusion.losses import make_denoising_loss
from posediff_jax.diffusion.schedules import VPSchedule
from posediff_jax.normalization import compute_normalization_stats
from posediff_jax.data.pipeline import PoseBatchIterator

config = default_config()
config.model.width, config.model.depth = {width}, {depth}
batch_size, steps, pipeline, steps_per_call = {batch_size}, {steps}, {pipeline!r}, {steps_per_call}
poses = synthetic_poses(max(4 * batch_size, 4096), seed=0)
network = train_state.make_network(config.model)
optimizer = train_state.make_optimizer(config.training)
loss_fn, normalization = make_denoising_loss(VPSchedule('cosine')), compute_normalization_stats(poses)
mesh = sharding.make_data_mesh()
rep, bat = sharding.replicated(mesh), sharding.batch_sharded(mesh)
state = jax.jit(lambda k: train_state.create_train_state(network, optimizer, k), out_shardings=rep)(jax.random.PRNGKey(0))
key = jax.random.PRNGKey(1)
if pipeline == "host":  # the loop before the data moved to the device: NumPy augmentation + a copy, every step
    step = jax.jit(make_train_step(network, optimizer, loss_fn, normalization, 0.999),
                   in_shardings=(rep, bat, rep), out_shardings=(rep, rep), donate_argnums=0)
    iterator = PoseBatchIterator(poses, batch_size, seed=0)
    def run(first, count):
        global state
        for i in range(first, first + count):
            state, loss = step(state, sharding.make_global_batch(iterator.batch_at(i), mesh), jax.random.fold_in(key, i))
        return loss
else:  # what training.train does: poses on the devices, steps_per_call steps per compiled call
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
print(json.dumps({{"devices": jax.device_count(), "platform": jax.devices()[0].platform, "pipeline": pipeline,
                   "steps_per_call": steps_per_call, "global_batch_size": batch_size, "steps": steps,
                   "compile_seconds": compile_seconds, "steps_per_second": steps / seconds,
                   "examples_per_second": steps * batch_size / seconds,
                   "examples_per_second_per_device": steps * batch_size / seconds / jax.device_count()}}))
"""


def machine_record() -> dict:
    """CPU model, cores, GPUs, versions and load, without creating a JAX backend in this process (the workers
    own the devices)."""
    return {"cpu_model": cpu_model(), "cpu_count": os.cpu_count(), "gpus": gpu_description(), "versions": versions(),
            "load_average": load_average()}


def run_worker(devices: int, pipeline: str, args) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    if args.simulate_cpu_devices:
        env.update(JAX_PLATFORMS="cpu", XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}")
    code = WORKER.format(width=args.width, depth=args.depth, batch_size=args.global_batch_size, steps=args.steps,
                         pipeline=pipeline, steps_per_call=1 if pipeline == "host" else args.steps_per_call)
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"worker with {devices} devices ({pipeline} pipeline) failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", default="1,2,4", help="comma-separated device counts")
    parser.add_argument("--steps", type=int, default=50, help="timed steps (rounded up to whole calls)")
    parser.add_argument("--pipeline", default="host,device",
                        help="'device': training's loop (poses on the devices, --steps-per-call steps per call); "
                             "'host': the loop it replaced (NumPy augmentation and a batch copy every step)")
    parser.add_argument("--steps-per-call", type=int, default=50)
    parser.add_argument("--global-batch-size", type=int, default=256)
    parser.add_argument("--width", type=int, default=512)
    parser.add_argument("--depth", type=int, default=4)
    parser.add_argument("--no-simulate", dest="simulate_cpu_devices", action="store_false",
                        help="use the real accelerators instead of simulated CPU devices")
    parser.add_argument("--output", default="bench_train.json")
    args = parser.parse_args(argv)
    machine = machine_record()
    date = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    rows = [run_worker(int(count), pipeline, args) for count in args.devices.split(",")
            for pipeline in args.pipeline.split(",")]
    load_end = load_average()
    print(f"{date}: {machine['cpu_model']} ({machine['cpu_count']} cores)"
          f"{'; ' + '; '.join(machine['gpus']) if machine['gpus'] else ''}; jax {machine['versions']['jax']}; "
          f"load {machine['load_average']} -> {load_end}")
    header = f"{'devices':>7} | {'platform':>8} | {'pipeline':>8} | {'per call':>8} | {'batch':>5} | {'compile s':>9} | {'steps/s':>8} | {'examples/s':>10} | {'ex/s/device':>11}"
    print(header)
    print("-" * len(header))
    for row in rows:
        print(f"{row['devices']:>7} | {row['platform']:>8} | {row['pipeline']:>8} | {row['steps_per_call']:>8} | {row['global_batch_size']:>5} | {row['compile_seconds']:>9.2f} | "
              f"{row['steps_per_second']:>8.2f} | {row['examples_per_second']:>10.0f} | {row['examples_per_second_per_device']:>11.0f}")
    command = "python tools/bench_train.py " + " ".join(sys.argv[1:] if argv is None else argv)
    pathlib.Path(args.output).write_text(json.dumps(
        {"date": date, "command": command, "machine": machine, "load_average_end": load_end, "rows": rows,
         "args": vars(args)}, indent=1))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
