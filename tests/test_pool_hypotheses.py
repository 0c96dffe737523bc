"""tools/pool_hypotheses.py: per-run best-of-m, the pooled best over runs, and runs on other frames refused."""

import json

import numpy as np
import pytest


@pytest.fixture(scope="module")
def pool(load_tool):
    return load_tool("pool_hypotheses")


def write_run(workdir, hypotheses, frame_index, actions, data=None):
    workdir.mkdir()
    np.savez(workdir / "per_frame.npz", hypotheses=hypotheses, frame_index=frame_index, action=np.asarray(actions))
    (workdir / "run.json").write_text(json.dumps({"config": {"data": data or {"manual_dir": "x"}}}))


def test_pooled_best_is_the_best_of_every_run(pool, tmp_path, monkeypatch, capsys):
    rng = np.random.default_rng(0)
    target = rng.normal(0.0, 200.0, (4, 17, 3)).astype(np.float32)
    target -= target[:, :1]
    monkeypatch.setattr(pool, "ground_truth", lambda config, frame_index, manual_dir: target[frame_index])
    frame_index, actions = np.arange(4), ["Walking 1", "Walking", "Sitting", "Sitting 2"]
    # run a: every hypothesis 30 mm off on frames 0-1, 80 mm on 2-3; run b the other way round.
    offsets = {"a": [30.0, 30.0, 80.0, 80.0], "b": [80.0, 80.0, 30.0, 30.0]}
    for name, offset in offsets.items():
        shift = np.zeros((4, 3, 17, 3), np.float32)
        shift[..., 0] = np.asarray(offset)[:, None, None] * np.linspace(1.0, 2.0, 3)[None, :, None]
        write_run(tmp_path / name, target[:, None] + shift, frame_index, actions)
    output = tmp_path / "pooled.json"
    assert pool.main([str(tmp_path / "a"), str(tmp_path / "b"), "--levels", "1", "3", "--output", str(output)]) == 0
    result = json.loads(output.read_text())
    # per action (Walking: frames 0-1, Sitting: 2-3), then the mean of the two actions
    assert result["runs"][0]["best_of_m"] == {"1": pytest.approx(55.0), "3": pytest.approx(55.0)}
    assert result["pooled"] == {"hypotheses": 6, "best": pytest.approx(30.0)}
    assert "best 30.0 mm" in capsys.readouterr().out


def test_runs_on_other_frames_or_without_hypotheses_are_refused(pool, tmp_path):
    hypotheses = np.zeros((2, 3, 17, 3), np.float32)
    write_run(tmp_path / "a", hypotheses, np.arange(2), ["Walking", "Sitting"])
    write_run(tmp_path / "b", hypotheses, np.arange(1, 3), ["Walking", "Sitting"])
    with pytest.raises(SystemExit, match="other frames"):
        pool.main([str(tmp_path / "a"), str(tmp_path / "b")])
    (tmp_path / "c").mkdir()
    np.savez(tmp_path / "c" / "per_frame.npz", frame_index=np.arange(2))
    (tmp_path / "c" / "run.json").write_text("{}")
    with pytest.raises(SystemExit, match="save_hypotheses=True"):
        pool.main([str(tmp_path / "c")])
