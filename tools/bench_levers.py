"""Cost of the sampler levers: seconds per frame (1 frame x 200 hypotheses, warm) and network evaluations.

    python tools/bench_levers.py [--hypotheses 200] [--repeats 3] [--output levers.json]

For each lever setting of the heatmap sampler (guided updates per noise level, final refinement, steps, the Heun
rule) times `sample_batch` on one shipped S9 example frame (real Stacked-Hourglass detections) after a warm-up
call and prints the median of `--repeats` runs beside the exact network evaluations per hypothesis. The accuracy
of each setting is a `posediff evaluate --config configs/eval_h36m.py --set sampler.KEY=VALUE` run.
"""

from __future__ import annotations

import platform
import statistics
import time

import numpy as np

# tools/ is on the path when this runs as a script
from bench_common import cpu_model, gpu_description, load_average, tool_parser, utc_now, write_json

VARIANTS = {
    "50 steps, 1 update/level": dict(guidance_repeats=1),
    "50 steps, 2 updates/level": dict(guidance_repeats=2),
    "50 steps, 3 updates/level (default)": dict(guidance_repeats=3),
    "50 steps, 1 update/level + 5 refinement": dict(guidance_repeats=1, final_refinement_steps=5),
    "100 steps, 1 update/level": dict(guidance_repeats=1, num_steps=100),
    "heun, 25 steps, 1 update/level": dict(guidance_repeats=1, method="heun", num_steps=25),
}


def main(argv=None) -> int:
    parser = tool_parser(__doc__)
    parser.add_argument("--hypotheses", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default=None, help="write the rows and the machine record as JSON")
    args = parser.parse_args(argv)

    import jax

    from posediff_jax.commands.demo import load_examples
    from posediff_jax.guidance import heatmap_evidence_from_keypoints, make_energy
    from posediff_jax.guidance.render import DETECTOR_SIGMA
    from posediff_jax.prior import resolve_prior
    from posediff_jax.sampling import make_sampler, sampler_config_for

    examples = load_examples()
    evidence = heatmap_evidence_from_keypoints(examples["keypoints_2d_detected"][:1], examples["intrinsics"][:1],
                                               joint_weights=examples["detection_mask"][:1].astype(np.float32),
                                               detector_sigma=DETECTOR_SIGMA)
    prior = resolve_prior("default")
    record = {"date": utc_now(), "jax": jax.__version__, "python": platform.python_version(),
              "devices": [str(device) for device in jax.devices()], "cpu": cpu_model(),
              "gpu": "; ".join(gpu_description()), "load_before": load_average(), "rows": []}
    print(f"{record['cpu']} | {record['gpu'] or 'no GPU'} | jax {jax.__version__} | load {record['load_before']}")
    print(f"{'setting':42s} {'evals/hyp':>9s} {'s/frame':>8s}")
    for name, options in VARIANTS.items():
        sampler = make_sampler(prior, make_energy("heatmap"), sampler_config_for("heatmap", **options))
        jax.block_until_ready(sampler.sample_batch(jax.random.PRNGKey(0), evidence, args.hypotheses))
        times = []
        for index in range(args.repeats):
            start = time.perf_counter()
            jax.block_until_ready(sampler.sample_batch(jax.random.PRNGKey(index + 1), evidence, args.hypotheses))
            times.append(time.perf_counter() - start)
        row = {"setting": name, "options": options, "hypotheses": args.hypotheses,
               "network_evaluations_per_hypothesis": sampler.config.network_evaluations_per_hypothesis(),
               "seconds_per_frame": statistics.median(times), "all_seconds": times}
        record["rows"].append(row)
        print(f"{name:42s} {row['network_evaluations_per_hypothesis']:9d} {row['seconds_per_frame']:8.2f}")
    record["load_after"] = load_average()
    write_json(record, args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
