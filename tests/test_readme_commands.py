"""Every command in the README's ```bash blocks runs, at small sizes, so the README cannot drift from the CLI.

How it works:
- `readme_commands()` reads every fenced ```bash block of README.md, joins `\\` continuations, drops
  `# comments` and optional `[...]` groups (`[--checkpoint DIR]`), and splits `a && b` into its parts.
- Each part must match one entry of `RULES` (the longest matching prefix, after `.venv/bin/` is dropped from the
  program). A part with no rule FAILS `test_every_readme_command_has_a_rule`: a new or changed README command
  needs one new line in `RULES` saying how to run it fast.
- Each block runs in its own temporary working folder laid out as the README assumes: `photo.jpg` (the shipped
  photo), small valid `evidence.npz`, `known_joints.npz` and `bones.npz`, a copy of `configs/`, and
  `../shared` -> the real data folder (POSEDIFF_SHARED_DIR or ../shared beside the repo; commands whose rule says
  `shared=True` are marked `shared_data` and skip without it). A command already run in an earlier block is not
  run again unless its own block needs its outputs. Commands run two at a time (POSEDIFF_README_TEST_WORKERS),
  a command after the earlier ones of its block that name the same produced path (train -> export).
  `tools/...` arguments point at the repo's tools; `posediff` and `python` run as subprocesses of this
  interpreter's environment on CPU with XLA optimisations off. Relative outputs (e.g. `--output
  posediff_jax/assets/prior`) land in the temporary folder; every run checks that no output it names or reports
  was written in the repo, and that each file it reports writing exists in its working folder.
- Setup commands (`python3 -m venv ...`, `pip install ...`, `python -m pytest`) are not run; instead every README
  command that runs pytest must appear verbatim in `.ci/run`.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import shlex
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
README = REPO_ROOT / "README.md"
CI_SCRIPT = REPO_ROOT / ".ci" / "run"
SHARED_DIR = pathlib.Path(os.environ.get("POSEDIFF_SHARED_DIR", REPO_ROOT.parent / "shared"))
COMMAND_TIMEOUT_S = 600


@dataclasses.dataclass(frozen=True)
class Rule:
    """How a README command runs here: `append` (extra arguments, small sizes), `substitute` ((old, new) pairs
    replaced inside arguments, e.g. placeholders), `shared` (needs ../shared), `run` (False: setup, not run)."""

    append: str = ""
    shared: bool = False
    substitute: tuple = ()
    run: bool = True


SETUP = Rule(run=False)
SAMPLING_SMALL = "--num-hypotheses 2 --steps 2"
TRAIN_SMALL = ("--config.training.num_steps=2 --config.training.global_batch_size=8 --config.data.stride=100 "
               "--config.eval.num_poses=16 --config.eval.num_samples=4 --config.eval.sampler_steps=2 "
               "--config.training.progress_bar=False")
EVALUATE_SMALL = ("--no-progress --set data.max_frames=2 --set 'num_hypotheses=(2,)' --set sampler.num_steps=2 "
                  "--set completion.num_poses=2 --set plausibility.num_samples=4 --set plausibility.num_real=8 "
                  "--set plausibility.reference_stride=2000")
DATA_DIR = ("=DIR", "=../shared/data/h36m")

# README command prefix -> how to run it fast. One line per command form; the longest matching prefix wins.
RULES = {
    "python3 -m venv": SETUP,  # setup; the README's test command must be in .ci/run (test below)
    "pip install": SETUP,
    "python -m pytest": SETUP,
    "posediff demo": Rule(SAMPLING_SMALL),
    "posediff estimate": Rule(SAMPLING_SMALL),
    "posediff complete": Rule(SAMPLING_SMALL),
    "posediff generate": Rule(SAMPLING_SMALL),
    "posediff evaluate": Rule(EVALUATE_SMALL, shared=True),
    "posediff train": Rule(TRAIN_SMALL, shared=True, substitute=(DATA_DIR,)),
}


# ------------------------------------------------------------------------------------------------ parsing


def bash_blocks(text: str) -> list[str]:
    """The contents of every fenced ```bash (or ```sh / ```shell) block."""
    return [match.group(1) for match in re.finditer(r"^```(?:bash|sh|shell)[ \t]*\n(.*?)^```", text, re.M | re.S)]


def drop_optional_groups(tokens: list[str]) -> list[str]:
    """Removes `[ ... ]` groups (optional arguments in usage notation), which may span several tokens."""
    kept, depth = [], 0
    for token in tokens:
        if depth == 0 and token.startswith("["):
            depth = 1
        if depth:
            if token.endswith("]"):
                depth = 0
            continue
        kept.append(token)
    return kept


def normalise_program(tokens: list[str]) -> list[str]:
    """`.venv/bin/posediff` -> `posediff` (the README runs installed programs both ways)."""
    if tokens and tokens[0].startswith(".venv/bin/"):
        tokens = [tokens[0][len(".venv/bin/"):]] + tokens[1:]
    return tokens


def readme_commands(text: str) -> list[dict]:
    """Every command of the bash blocks: {'raw': the README line (continuations joined, comment dropped),
    'parts': [token lists, one per `&&` part, programs normalised, optional groups dropped], 'block': its index}."""
    commands = []
    for block_index, block in enumerate(bash_blocks(text)):
        for line in re.sub(r"\\\n", " ", block).splitlines():
            tokens = shlex.split(line, comments=True)
            if not tokens:
                continue
            parts, current = [], []
            for token in tokens + ["&&"]:
                if token == "&&":
                    if current:
                        parts.append(normalise_program(drop_optional_groups(current)))
                    current = []
                else:
                    current.append(token)
            commands.append({"raw": re.sub(r"\s+#.*$", "", line).strip(), "parts": parts, "block": block_index})
    return commands


def find_rule(tokens: list[str]):
    """(prefix, Rule) of the longest `RULES` prefix matching the command's tokens, or (None, None)."""
    best = (None, None)
    for prefix, rule in RULES.items():
        words = prefix.split()
        if tokens[: len(words)] == words and (best[0] is None or len(words) > len(best[0].split())):
            best = (prefix, rule)
    return best


def runnable_commands(text: str) -> list[tuple[int, list[str]]]:
    """(block, tokens) of the runnable parts in README order; parts without a rule are included (their test fails).

    Each block runs in its own working folder. A command already run in an earlier block is left out unless a
    later command of its block names a path it names (e.g. the workdir an export reads).
    """
    entries = []
    for command in readme_commands(text):
        for tokens in command["parts"]:
            rule = find_rule(tokens)[1]
            if rule is None or rule.run:
                entries.append((command["block"], tokens))
    result, seen = [], set()
    for index, (block, tokens) in enumerate(entries):
        later = [other for other_block, other in entries[index + 1:] if other_block == block]
        needed_later = any(produced_paths(tokens) & produced_paths(other) for other in later)
        if tuple(tokens) in seen and not needed_later:
            continue
        seen.add(tuple(tokens))
        result.append((block, tokens))
    return result


def prepared_arguments(tokens: list[str], rule: Rule) -> list[str]:
    """The README tokens with the rule's substitutions applied and its small-size arguments appended.

    Paths under /tmp/ become paths under the command's work folder: a README command's output folder from an
    earlier run (another config: `evaluate` then refuses the workdir) must not decide this run."""
    arguments = [re.sub(r"(^|=)/tmp/", r"\1tmp/", argument) for argument in tokens]
    for old, new in rule.substitute:
        arguments = [argument.replace(old, new) for argument in arguments]
    return arguments + shlex.split(rule.append)


FIXTURES = ("photo.jpg", "evidence.npz", "rig.npz", "known_joints.npz", "bones.npz", "configs/")  # see write_fixtures


def path_arguments(tokens: list[str]) -> set:
    """Relative paths a command names (arguments and `--flag=value` values with a '/' or a file extension)."""
    values = {token.split("=", 1)[-1] for token in tokens[1:] if not token.startswith("-") or "=" in token}
    return {value for value in values if ("/" in value or re.search(r"\.[A-Za-z]\w*$", value))
            and not value.startswith(("../", "/"))}


def produced_paths(tokens: list[str]) -> set:
    """`path_arguments` less the input fixtures and the repo's tools: what commands may write or pass on."""
    return {path for path in path_arguments(tokens)
            if not path.startswith(("tools/", "configs/")) and path not in FIXTURES}


def dependencies(commands: list[list[str]]) -> dict:
    """{index: earlier indices it waits for}: B waits for an earlier A when both name the same produced path
    (e.g. the train command's and the export's `runs/h36m_prior`)."""
    named = [produced_paths(tokens) for tokens in commands]
    return {index: [earlier for earlier in range(index) if named[earlier] & named[index]]
            for index in range(len(commands))}


README_TEXT = README.read_text()
RUNNABLE = runnable_commands(README_TEXT)


# ----------------------------------------------------------------------------------------- parser tests


def test_parser_joins_continuations_drops_comments_and_optional_groups():
    text = (
        "intro\n```bash\n"
        "posediff demo        # a comment\n"
        "posediff train --config c.py \\\n    --workdir w  --config.x=DIR\n"
        "posediff evaluate --config e.py [--checkpoint DIR] --set 'a=(1, 2)'\n"
        "python3 -m venv .venv && .venv/bin/posediff demo\n"
        "```\n```python\nposediff not_bash\n```\n"
    )
    commands = readme_commands(text)
    assert [command["parts"] for command in commands] == [
        [["posediff", "demo"]],
        [["posediff", "train", "--config", "c.py", "--workdir", "w", "--config.x=DIR"]],
        [["posediff", "evaluate", "--config", "e.py", "--set", "a=(1, 2)"]],
        [["python3", "-m", "venv", ".venv"], ["posediff", "demo"]],
    ]
    assert commands[0]["raw"] == "posediff demo" and commands[3]["block"] == 0
    # Deduplicated, setup parts left out, README order.
    assert runnable_commands(text) == [(0, ["posediff", "demo"]), (0, commands[1]["parts"][0]),
                                       (0, commands[2]["parts"][0])]
    # A repeat in a later block runs again only when a later command of that block needs what it writes.
    blocks = "```bash\nposediff train --workdir w/x\nposediff demo\n```\n```bash\nposediff demo\n" \
             "posediff train --workdir w/x\npython tools/export_prior.py --workdir w/x\n```\n"
    assert [(block, tokens[1]) for block, tokens in runnable_commands(blocks)] == [
        (0, "train"), (0, "demo"), (1, "train"), (1, "tools/export_prior.py")]
    assert find_rule(["posediff", "unknown-command"]) == (None, None)
    # Commands naming the same produced path run in order; inputs and data paths do not order them.
    chain = [["posediff", "train", "--workdir", "runs/x", "--config.data.manual_dir=../shared/data"],
             ["posediff", "estimate", "--image", "photo.jpg", "--guidance-scale", "0.1"],
             ["python", "tools/export.py", "--workdir=runs/x"],
             ["posediff", "generate", "--guidance-scale", "0.1", "--config.data.manual_dir=../shared/data"],
             ["posediff", "estimate", "--input", "photo.jpg"]]
    assert dependencies(chain) == {0: [], 1: [], 2: [0], 3: [], 4: []}
    assert find_rule(["posediff", "estimate", "--image", "x.jpg"])[0] == "posediff estimate"
    # /tmp outputs land in the command's work folder, so no earlier run's folder is reused.
    assert prepared_arguments(["posediff", "evaluate", "--workdir", "/tmp/a", "--output=/tmp/b.npz", "x/tmp/c"],
                              Rule(append="--quiet")) == ["posediff", "evaluate", "--workdir", "tmp/a",
                                                          "--output=tmp/b.npz", "x/tmp/c", "--quiet"]


# ------------------------------------------------------------------------------------------- README tests


def test_every_readme_command_has_a_rule():
    commands = readme_commands(README_TEXT)
    assert commands, "README.md has no ```bash blocks"
    missing = [" ".join(tokens) for command in commands for tokens in command["parts"] if find_rule(tokens)[1] is None]
    assert not missing, (
        f"README commands without a rule in {pathlib.Path(__file__).name}'s RULES (add one line each saying how to "
        f"run it fast): {missing}")


def test_ci_runs_the_readme_test_command_verbatim():
    test_commands = [command["raw"] for command in readme_commands(README_TEXT) if "pytest" in command["raw"]]
    assert test_commands, "README.md shows no test command (a ```bash line running pytest)"
    ci_script = CI_SCRIPT.read_text()
    for command in test_commands:
        assert command in ci_script, f".ci/run does not run the README's test command verbatim: {command!r}"


# -------------------------------------------------------------------------------------- running commands


def write_fixtures(folder: pathlib.Path) -> None:
    """The input files the README's commands name, small and valid."""
    shutil.copy(REPO_ROOT / "posediff_jax" / "assets" / "images" / "apollo11_crew.jpg", folder / "photo.jpg")
    (folder / "photos").mkdir()  # a folder of photos: the photo and a file that is no photo (skipped)
    shutil.copy(folder / "photo.jpg", folder / "photos" / "crew.jpg")
    (folder / "photos" / "damaged.jpg").write_bytes(b"not a photo")
    with np.load(REPO_ROOT / "posediff_jax" / "assets" / "examples" / "h36m_s9_examples.npz") as examples:
        keypoints = examples["keypoints_2d_detected"][:1].astype(np.float32)
        intrinsics = examples["intrinsics"][:1].astype(np.float32)
        pose = examples["pose_3d"][0].astype(np.float64)
    np.savez(folder / "evidence.npz", keypoints_2d=keypoints, intrinsics=intrinsics)
    pose = pose - pose[:1]
    angles = np.deg2rad([0.0, 90.0])  # two cameras 5 m from the person, a quarter turn apart
    rotations = np.stack([[[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]] for a in angles])
    cameras = np.einsum("vij,kj->vki", rotations, pose) + np.array([0.0, 0.0, 5000.0])
    pixels = cameras[..., :2] / cameras[..., 2:] * intrinsics[0, [0, 1], [0, 1]] + intrinsics[0, [0, 1], [2, 2]]
    np.savez(folder / "rig.npz", keypoints_2d=pixels.astype(np.float32), intrinsics=intrinsics[0],
             rotation=rotations, translation=np.tile([0.0, 0.0, 5000.0], (2, 1)))
    mask = np.zeros(17, np.float32)
    mask[:7] = 1.0  # pelvis and legs known
    known = np.where(mask[:, None] > 0, pose, np.nan).astype(np.float32)
    np.savez(folder / "known_joints.npz", known_joints=known, mask=mask)
    from posediff_jax.skeleton import BONES

    lengths = np.array([np.linalg.norm(pose[child] - pose[parent]) for child, parent in BONES], np.float32)
    np.savez(folder / "bones.npz", bone_lengths=lengths)
    shutil.copytree(REPO_ROOT / "configs", folder / "configs", ignore=shutil.ignore_patterns("__pycache__"))


def program_arguments(arguments: list[str]) -> list[str]:
    """The argv to run: `posediff` and `python` of this interpreter's environment, `tools/` paths at the repo's.

    `posediff` is the installed console script beside the interpreter (else `python -P -m posediff_jax`: -P keeps
    the working folder off sys.path, where an exported `posediff_jax/assets/prior` would shadow the package).
    """
    arguments = [str(REPO_ROOT / argument) if argument.startswith("tools/") else argument for argument in arguments]
    if arguments[0] == "posediff":
        script = pathlib.Path(sys.executable).parent / "posediff"
        program = [str(script)] if script.is_file() else [sys.executable, "-P", "-m", "posediff_jax"]
        return program + arguments[1:]
    if arguments[0] in ("python", "python3"):
        return [sys.executable] + arguments[1:]
    return arguments


def repo_files_written(names, since_ns: int) -> list[str]:
    """Files under REPO_ROOT / name (a file, or a folder's files) modified at or after `since_ns`: a README
    command's relative output that landed in the repo instead of the working folder."""
    found = []
    for name in names:
        path = REPO_ROOT / name
        files = [path] if path.is_file() else (sorted(path.rglob("*")) if path.is_dir() else [])
        found += [str(file) for file in files if file.is_file() and file.stat().st_mtime_ns >= since_ns]
    return found


def written_paths(stdout: str) -> list[str]:
    """Relative file paths a command reports on its `wrote ...` lines."""
    paths = []
    for line in stdout.splitlines():
        if line.strip().startswith("wrote"):
            paths += re.findall(r"(?<![\w/.-])([\w.-][\w./-]*\.(?:npz|png|json|md))\b", line)
    return paths


def runnable(tokens) -> bool:
    rule = find_rule(tokens)[1]
    return rule is not None and not (rule.shared and not (SHARED_DIR / "data").is_dir())


class Runner:
    """Runs the selected README commands, `POSEDIFF_README_TEST_WORKERS` at a time (default 2: the CI's cores),
    each block in its own working folder `root/block<i>/work` (with `root/block<i>/shared` -> the data), each
    command after the earlier commands of its block it depends on (`dependencies`); tests await their result."""

    def __init__(self, root: pathlib.Path, entries: list[tuple[int, list[str]]]):
        from concurrent.futures import ThreadPoolExecutor

        self.started_ns = time.time_ns()
        self.environment = dict(os.environ, JAX_PLATFORMS="cpu", JAX_DISABLE_MOST_OPTIMIZATIONS="1",
                                POSEDIFF_JAX_CACHE_DIR=str(root / "xla_cache"), MPLBACKEND="Agg",
                                TFDS_DATA_DIR=str(root / "tensorflow_datasets"))
        self.folders = {}
        for block in sorted({block for block, _ in entries}):
            work = root / f"block{block}" / "work"
            work.mkdir(parents=True)
            write_fixtures(work)
            if (SHARED_DIR / "data").is_dir():
                (work.parent / "shared").symlink_to(SHARED_DIR.resolve(), target_is_directory=True)
            self.folders[block] = work
        workers = int(os.environ.get("POSEDIFF_README_TEST_WORKERS", "2"))
        self.pool = ThreadPoolExecutor(max_workers=max(workers, 1))
        self.futures = {}
        for block in self.folders:
            commands = [tokens for entry_block, tokens in entries if entry_block == block]
            waits = dependencies(commands)
            for index, tokens in enumerate(commands):
                earlier = [self.futures[(block, tuple(commands[i]))] for i in waits[index]]
                self.futures[(block, tuple(tokens))] = self.pool.submit(self._run, block, tokens, earlier)

    def _run(self, block, tokens, earlier):
        for future in earlier:  # submitted before this one: already running or done (no deadlock)
            future.exception()
        argv = program_arguments(prepared_arguments(tokens, find_rule(tokens)[1]))
        try:
            completed = subprocess.run(argv, cwd=self.folders[block], env=self.environment, capture_output=True,
                                       text=True, timeout=COMMAND_TIMEOUT_S)
        except subprocess.TimeoutExpired as error:
            return argv, None, f"timed out after {COMMAND_TIMEOUT_S} s", str(error.stderr or "")
        return argv, completed.returncode, completed.stdout, completed.stderr

    def result(self, block, tokens):
        return self.futures[(block, tuple(tokens))].result()


@pytest.fixture(scope="module")
def runner(request, tmp_path_factory):
    """Starts every selected, runnable README command (and those they depend on) at once."""
    selected = [(item.callspec.params["block"], item.callspec.params["tokens"]) for item in request.session.items
                if getattr(item, "originalname", None) == "test_readme_command_runs"]
    wanted = {(block, tuple(tokens)) for block, tokens in selected}
    for block in {block for block, _ in selected}:  # and the earlier commands they depend on
        commands = [tokens for entry_block, tokens in RUNNABLE if entry_block == block]
        waits = dependencies(commands)
        for index in reversed(range(len(commands))):
            if (block, tuple(commands[index])) in wanted:
                wanted |= {(block, tuple(commands[earlier])) for earlier in waits[index]}
    entries = [(block, tokens) for block, tokens in RUNNABLE if (block, tuple(tokens)) in wanted and runnable(tokens)]
    started = Runner(tmp_path_factory.mktemp("readme"), entries)
    yield started
    started.pool.shutdown(wait=True, cancel_futures=True)


def command_parameters():
    """One pytest parameter per runnable README command; those needing ../shared are marked `shared_data`."""
    parameters = []
    for block, tokens in RUNNABLE:
        rule = find_rule(tokens)[1]
        marks = [pytest.mark.shared_data] if rule is not None and rule.shared else []
        parameters.append(pytest.param(block, tokens, id=" ".join(tokens), marks=marks))
    return parameters


@pytest.mark.parametrize("block, tokens", command_parameters())
def test_readme_command_runs(block, tokens, runner):
    prefix, rule = find_rule(tokens)
    if rule is None:
        pytest.fail(f"no rule for README command {' '.join(tokens)!r}: add one line to RULES")
    if rule.shared and not (SHARED_DIR / "data").is_dir():
        pytest.skip(f"needs the real data folder {SHARED_DIR} (set POSEDIFF_SHARED_DIR)")
    argv, returncode, stdout, stderr = runner.result(block, tokens)
    work = runner.folders[block]
    output = f"$ {shlex.join(argv)}\n--- stdout\n{stdout[-3000:]}\n--- stderr\n{stderr[-3000:]}"
    assert returncode == 0, output
    assert "Traceback" not in stderr, output
    stray = repo_files_written(produced_paths(tokens) | set(written_paths(stdout)), runner.started_ns)
    assert not stray, f"the command wrote into the repo: {stray}\n{output}"
    for path in written_paths(stdout):
        assert not pathlib.Path(path).is_absolute() and (work / path).exists(), (
            f"reported output {path!r} is not in the working folder\n{output}")
