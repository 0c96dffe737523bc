"""Many photos in one run (`detector/photo_set.py`; `posediff estimate --image A B folder/`)."""

import pathlib
import shutil
import warnings

import numpy as np
import pytest

from posediff_jax import cli
from posediff_jax.detector.errors import CropTooSmallError, ImageReadError, NoPersonFoundError
from posediff_jax.detector.photo_set import PhotoSet, SkippedImageWarning, expand_photo_paths, find_people
from posediff_jax.validation import PoseDiffError

PHOTO = pathlib.Path(__file__).resolve().parents[1] / "posediff_jax" / "assets" / "images" / "apollo11_crew.jpg"
FAST = ["--prior", "tiny", "--steps", "2", "--num-hypotheses", "2", "--quiet"]


def touch(path, text="x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_folders_expand_to_their_photos_sorted_once_each(tmp_path):
    folder = tmp_path / "photos"
    for name in ("b.JPG", "a.png", "c.webp", "notes.txt", ".hidden.jpg", "sub/d.jpg", "result.png", "result.npz"):
        touch(folder / name)
    extra = touch(tmp_path / "extra.raw")  # a named file is tried whatever its suffix
    photos = expand_photo_paths([folder, extra, folder / "a.png"])
    # result.png has result.npz beside it: a posediff plot, not a photo; a.png named twice is kept once.
    assert [path.name for path in photos.files] == ["a.png", "b.JPG", "c.webp", "extra.raw"]
    assert photos.several
    assert not expand_photo_paths([extra]).several
    assert expand_photo_paths([folder / "a.png"]).files == (folder / "a.png",)


@pytest.mark.parametrize("make, message", [
    (lambda root: [], "at least one"),
    (lambda root: [root / "missing.jpg"], "not found"),
    (lambda root: [touch(root / "empty" / "notes.txt").parent], "holds no image files"),
])
def test_expand_refuses_what_holds_no_photo(tmp_path, make, message):
    with pytest.raises(PoseDiffError, match=message):
        expand_photo_paths(make(tmp_path))


def fake_front_end(outcomes):
    """An `image_to_evidence` stand-in: `outcomes[name]` is a person count or an exception to raise."""
    calls = []

    def image_to_evidence(path, all_people):
        calls.append(path.name)
        outcome = outcomes[path.name]
        if isinstance(outcome, Exception):
            raise outcome
        return [({"person": (path.name, index)}, {"raw": "dropped"}) for index in range(outcome)]

    return image_to_evidence, calls


def test_find_people_skips_unusable_photos_and_keeps_the_rest(tmp_path):
    names = ["a.jpg", "b.jpg", "c.jpg", "d.jpg", "e.jpg"]
    files = tuple(tmp_path / name for name in names)
    front_end, calls = fake_front_end({
        "a.jpg": 2, "b.jpg": ImageReadError(f"image {str(files[1])!r}: cannot be decoded (truncated)"),
        "c.jpg": NoPersonFoundError("no person found"), "d.jpg": CropTooSmallError("too small"), "e.jpg": 1})
    ticks = []
    with pytest.warns(SkippedImageWarning) as caught:
        found = find_people(PhotoSet(files, several=True), True, front_end, progress=lambda: ticks.append(1))
    assert calls == names and len(ticks) == 5
    assert found.evidence == [{"person": ("a.jpg", 0)}, {"person": ("a.jpg", 1)}, {"person": ("e.jpg", 0)}]
    assert found.image_files == [str(files[0]), str(files[0]), str(files[4])] and found.person_index == [0, 1, 0]
    # The reason is recorded without the front end's "image 'PATH': " prefix: the path stands beside it.
    assert found.skipped == [(str(files[1]), "cannot be decoded (truncated)"), (str(files[2]), "no person found"),
                             (str(files[3]), "too small")]
    assert [str(warning.message) for warning in caught] == [
        f"skipped {str(files[1])!r}: cannot be decoded (truncated)", f"skipped {str(files[2])!r}: no person found",
        f"skipped {str(files[3])!r}: too small"]


def test_find_people_fails_when_no_photo_gives_a_person_and_a_single_photo_keeps_its_error(tmp_path):
    files = tuple(tmp_path / f"{index}.jpg" for index in range(5))
    front_end, _ = fake_front_end({path.name: NoPersonFoundError("no person found") for path in files})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SkippedImageWarning)
        with pytest.raises(PoseDiffError, match=r"none of the 5 photos gave a person: .*0\.jpg.*no person found"
                                                 r".*\(and 2 more\)"):
            find_people(PhotoSet(files, several=True), False, front_end)
    with pytest.raises(NoPersonFoundError):
        find_people(PhotoSet(files[:1], several=False), False, front_end)
    other, _ = fake_front_end({files[0].name: RuntimeError("a bug")})
    with pytest.raises(RuntimeError):  # only a photo's own problems are skipped
        find_people(PhotoSet(files[:1], several=True), False, other)


@pytest.fixture
def photo_folder(tmp_path):
    pytest.importorskip("ai_edge_litert")
    folder = tmp_path / "photos"
    folder.mkdir()
    shutil.copy(PHOTO, folder / "a_crew.jpg")
    (folder / "b_damaged.jpg").write_bytes(PHOTO.read_bytes()[:200])
    from PIL import Image

    Image.new("RGB", (320, 240), (90, 120, 200)).save(folder / "c_nobody.png")
    shutil.copy(PHOTO, folder / "d_crew.JPG")
    return folder


def test_estimate_over_a_folder_skips_bad_photos_and_records_every_frame(photo_folder, tmp_path, capsys,
                                                                         monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["estimate", "--image", str(photo_folder), "--all-people", *FAST]) == 0
    captured = capsys.readouterr()
    assert "from 2 of 4 photos, 2 skipped" in captured.out
    warned = [line for line in captured.err.splitlines() if "warning: skipped" in line]
    assert len(warned) == 2 and "b_damaged.jpg" in warned[0] and "c_nobody.png" in warned[1]
    with np.load(tmp_path / "photos_hypotheses.npz") as result:  # named after the folder
        assert result["hypotheses"].shape == (6, 2, 17, 3)
        assert [pathlib.Path(name).name for name in result["image_files"]] == ["a_crew.jpg"] * 3 + ["d_crew.JPG"] * 3
        assert result["person_index"].tolist() == [0, 1, 2, 0, 1, 2]
        assert [pathlib.Path(name).name for name in result["skipped_images"]] == ["b_damaged.jpg", "c_nobody.png"]
        assert "no person found" in str(result["skipped_reasons"][1])
        # The same photo twice gives the same detections (frames 0-2 and 3-5).
        np.testing.assert_allclose(result["keypoints_2d"][:3], result["keypoints_2d"][3:])
    assert (tmp_path / "photos_hypotheses.png").is_file()
    # The plot beside its .npz, written into the folder, is not taken for a photo by the next run.
    assert cli.main(["estimate", "--image", str(photo_folder), "--output", str(photo_folder / "again.npz"),
                     *FAST]) == 0
    assert cli.main(["estimate", "--image", str(photo_folder), "--no-plot", "--output", str(tmp_path / "third.npz"),
                     *FAST]) == 0
    with np.load(tmp_path / "third.npz") as result:
        assert len(result["image_files"]) == 2 and len(result["skipped_images"]) == 2


def test_estimate_with_one_named_photo_keeps_its_error_and_nothing_written(photo_folder, tmp_path, capsys):
    output = tmp_path / "out.npz"
    assert cli.main(["estimate", "--image", str(photo_folder / "c_nobody.png"), "--output", str(output),
                     *FAST]) == 2
    assert "no person found" in capsys.readouterr().err and not output.exists()
    assert cli.main(["estimate", "--image", str(photo_folder / "b_damaged.jpg"), str(photo_folder / "c_nobody.png"),
                     "--output", str(output), *FAST]) == 2
    assert "none of the 2 photos gave a person" in capsys.readouterr().err and not output.exists()


def test_a_photos_exif_focal_length_sets_its_camera_unless_the_user_gives_a_field_of_view(tmp_path, capsys):
    pytest.importorskip("ai_edge_litert")
    from PIL import Image

    from posediff_jax.detector.image_io import exif_focal_length_35mm

    exif = Image.Exif()
    exif.get_ifd(0x8769)[0xA405] = 26  # FocalLengthIn35mmFilm, as a phone writes it
    with Image.open(PHOTO) as photo:
        photo.save(tmp_path / "phone.jpg", exif=exif)
    assert exif_focal_length_35mm(tmp_path / "phone.jpg") == 26.0 and exif_focal_length_35mm(PHOTO) is None
    (tmp_path / "junk.jpg").write_bytes(b"junk")
    assert exif_focal_length_35mm(tmp_path / "junk.jpg") is None  # never raises: the reader reports the photo
    runs = {"exif": [], "given": ["--field-of-view", "70"], "default": []}
    for name, flags in runs.items():
        source = PHOTO if name == "default" else tmp_path / "phone.jpg"
        assert cli.main(["estimate", "--image", str(source), "--output", str(tmp_path / f"{name}.npz"), "--no-plot",
                         *flags, *FAST]) == 0
    with np.load(tmp_path / "exif.npz") as exif_run, np.load(tmp_path / "given.npz") as given_run, \
            np.load(tmp_path / "default.npz") as default_run:
        focal = 26.0 * np.hypot(600, 471) / np.hypot(36.0, 24.0)  # 600 x 471 pixels
        np.testing.assert_allclose(exif_run["intrinsics"][0, 0, 0], focal, rtol=1e-5)
        assert str(exif_run["intrinsics_source"][0]).startswith("Exif 35 mm equivalent focal length 26 mm")
        assert str(given_run["intrinsics_source"][0]) == "assumed field of view 70 degrees"
        assert str(default_run["intrinsics_source"][0]) == "assumed field of view 50 degrees"
        assert exif_run["intrinsics"][0, 0, 0] < default_run["intrinsics"][0, 0, 0]  # 66 degrees is wider than 50
    for flags, message in ((["--field-of-view", "0"], "expected degrees in [1, 179]"),
                           (["--field-of-view", "nan"], "expected degrees in [1, 179]")):
        assert cli.main(["estimate", "--image", str(PHOTO), "--output", str(tmp_path / "bad.npz"), *flags,
                         *FAST]) == 2
        assert message in capsys.readouterr().err
    evidence = tmp_path / "evidence.npz"
    np.savez(evidence, keypoints_2d=np.zeros((17, 2)), intrinsics=np.eye(3))
    assert cli.main(["estimate", "--input", str(evidence), "--field-of-view", "60", "--output",
                     str(tmp_path / "bad.npz"), *FAST]) == 2
    assert "--field-of-view: applies to --image" in capsys.readouterr().err
    assert not (tmp_path / "bad.npz").exists()


def test_plots_folder_gets_one_png_per_frame_named_by_photo_and_person(photo_folder, tmp_path, capsys):
    plots = tmp_path / "plots" / "run1"  # created, parents too
    assert cli.main(["estimate", "--image", str(photo_folder / "a_crew.jpg"), "--all-people", "--no-plot",
                     "--output", str(tmp_path / "out.npz"), "--plots-folder", str(plots), *FAST]) == 0
    assert "wrote 3 PNG(s)" in capsys.readouterr().out
    names = sorted(path.name for path in plots.iterdir())
    assert names == ["00000_a_crew_person0.png", "00001_a_crew_person1.png", "00002_a_crew_person2.png"]
    from PIL import Image

    with Image.open(plots / names[1]) as image:
        assert image.size[0] > 500
    # Keypoint input: frame_NNNNN.png. An --image folder as the plots folder is refused before any work.
    evidence = tmp_path / "evidence.npz"
    with np.load(tmp_path / "out.npz") as result:
        np.savez(evidence, keypoints_2d=result["keypoints_2d"][:2], intrinsics=result["intrinsics"][:2])
    assert cli.main(["estimate", "--input", str(evidence), "--no-plot", "--output", str(tmp_path / "kp.npz"),
                     "--plots-folder", str(tmp_path / "kp_plots"), *FAST]) == 0
    assert sorted(path.name for path in (tmp_path / "kp_plots").iterdir()) == ["frame_00000.png", "frame_00001.png"]
    before = sorted(path.name for path in photo_folder.iterdir())
    assert cli.main(["estimate", "--image", str(photo_folder), "--output", str(tmp_path / "x.npz"),
                     "--plots-folder", str(photo_folder), *FAST]) == 2
    assert "is an --image folder" in capsys.readouterr().err
    assert sorted(path.name for path in photo_folder.iterdir()) == before and not (tmp_path / "x.npz").exists()
