"""The BlazePose image front end: affine frames, detector decoding, image reading, photo -> evidence."""

import math
import pathlib

import numpy as np
import pytest

from posediff_jax import skeleton
from posediff_jax.detector import (  # noqa: I001
    CropTooSmallError,
    DetectorNotInstalledError,
    ImageReadError,
    NoPersonFoundError,
    affine,
    blazepose,
    front_end,
    image_io,
    person_detection,
)
from posediff_jax.validation import PoseDiffError

PHOTO = front_end.default_image_path()


# ----------------------------------------------------------------------------------------------- affine


def test_affine_invert_compose_apply():
    rotation = 0.3
    cos, sin = 2 * math.cos(rotation), 2 * math.sin(rotation)
    matrix = np.array([[cos, -sin, 5.0], [sin, cos, -3.0]])
    points = np.random.default_rng(0).normal(size=(7, 2)) * 50
    np.testing.assert_allclose(affine.apply(affine.invert(matrix), affine.apply(matrix, points)), points, atol=1e-9)
    shift = affine.scale_translate(1.0, 1.0, 2.0)
    shifted = affine.apply(affine.compose(shift, matrix), points)
    np.testing.assert_allclose(shifted, affine.apply(matrix, points) + [1, 2])


def test_rescale_pixel_grid_maps_block_centres_to_cell_centres():
    to_heatmap = affine.rescale_pixel_grid(4)
    # Crop pixels 0..3 form heatmap cell 0, whose centre is crop pixel 1.5; pixels 252..255 form cell 63.
    np.testing.assert_allclose(affine.apply(to_heatmap, [[1.5, 1.5], [253.5, 1.5]]), [[0, 0], [63, 0]])
    # The outer edges coincide: crop edge -0.5 is heatmap edge -0.5.
    np.testing.assert_allclose(affine.apply(to_heatmap, [[-0.5, 255.5]]), [[-0.5, 63.5]])


def test_warp_image_identity_shift_and_zero_border():
    image = np.arange(5 * 6 * 3, dtype=np.float32).reshape(5, 6, 3)
    np.testing.assert_allclose(affine.warp_image(image, affine.scale_translate(1, 0, 0), 5, 6), image)
    shifted = affine.warp_image(image, affine.scale_translate(1, 1, 0), 5, 6)
    np.testing.assert_allclose(shifted[:, :5], image[:, 1:])
    np.testing.assert_allclose(shifted[:, 5], 0.0)
    half = affine.warp_image(image, affine.scale_translate(1, 0.5, 0), 5, 5)
    np.testing.assert_allclose(half, (image[:, :5] + image[:, 1:]) / 2)


# ------------------------------------------------------------------------------------- person detection


def test_anchors_match_mediapipe_layout():
    anchors = person_detection.make_anchors()
    assert anchors.shape == (2254, 2)
    # 28 x 28 grid, 2 anchors per cell first; then 14 x 14 x 2; then 7 x 7 x 6.
    np.testing.assert_allclose(anchors[0], [0.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(anchors[1], anchors[0])
    np.testing.assert_allclose(anchors[2], [1.5 / 28, 0.5 / 28])
    np.testing.assert_allclose(anchors[1568], [0.5 / 14, 0.5 / 14])
    np.testing.assert_allclose(anchors[-1], [6.5 / 7, 6.5 / 7])
    np.testing.assert_allclose(anchors[-6:], np.repeat(anchors[-1:], 6, axis=0))


def test_letterbox_keeps_aspect_and_centres():
    to_input = person_detection.letterbox_affine(300, 600)  # height 300, width 600 -> scale 224 / 600
    # Image edges map to input edges horizontally, and to a centred band vertically.
    edges = affine.apply(to_input, [[-0.5, -0.5], [599.5, 299.5]])
    np.testing.assert_allclose(edges, [[-0.5, 55.5], [223.5, 167.5]], atol=1e-9)


def test_decode_detections_zero_regression_sits_on_anchors():
    anchors = person_detection.make_anchors()
    raw_boxes = np.zeros((2254, 12))
    raw_boxes[:, 2:4] = 22.4  # a box 0.1 wide
    raw_scores = np.full((2254, 1), -10.0)
    raw_scores[100] = 3.0
    boxes, keypoints, scores = person_detection.decode_detections(raw_boxes, raw_scores, anchors)
    assert boxes.shape == (1, 4) and keypoints.shape == (1, 4, 2)
    np.testing.assert_allclose(scores, [1 / (1 + math.exp(-3.0))])
    np.testing.assert_allclose(boxes[0], np.concatenate([anchors[100] - 0.05, anchors[100] + 0.05]))
    np.testing.assert_allclose(keypoints[0], np.repeat(anchors[100:101], 4, axis=0))


def test_weighted_non_max_suppression_merges_overlaps_and_keeps_others():
    boxes = np.array([[0.0, 0.0, 1.0, 1.0], [0.1, 0.0, 1.1, 1.0], [5.0, 5.0, 6.0, 6.0]])
    keypoints = np.zeros((3, 4, 2))
    keypoints[1] += 1.0
    scores = np.array([0.9, 0.6, 0.7])
    merged = person_detection.weighted_non_max_suppression(boxes, keypoints, scores)
    assert len(merged) == 2
    box, points, score = merged[0]
    assert score == 0.9
    np.testing.assert_allclose(box[0], 0.6 * 0.1 / 1.5)
    np.testing.assert_allclose(points, 0.6 / 1.5)
    np.testing.assert_allclose(merged[1][0], boxes[2])


def detection_with(hip, towards):
    keypoints = np.array([hip, towards, hip, towards], dtype=np.float64)
    return person_detection.PersonDetection(score=0.9, face_box=np.zeros(4), keypoints=keypoints)


def test_region_upright_and_sideways():
    upright = person_detection.detection_to_region(detection_with([100, 200], [100, 100]))
    assert upright.rotation == pytest.approx(0.0)
    assert upright.side == pytest.approx(2 * 100 * 1.25)
    lying = person_detection.detection_to_region(detection_with([100, 200], [200, 200]))
    assert lying.rotation == pytest.approx(math.pi / 2)
    # The crop's "up" (towards row 0) points at the body-size keypoint in the image.
    crop_to_image = person_detection.region_to_crop_affine(lying, 256)
    top_centre = affine.apply(crop_to_image, [[127.5, -0.5]])[0]
    np.testing.assert_allclose(top_centre, [100 + lying.side / 2, 200], atol=1e-9)


def test_crop_affine_centre_and_corners():
    region = person_detection.RotatedRegion(centre_x=300.0, centre_y=200.0, side=512.0, rotation=0.4)
    crop_to_image = person_detection.region_to_crop_affine(region, 256)
    np.testing.assert_allclose(affine.apply(crop_to_image, [[127.5, 127.5]])[0], [300, 200], atol=1e-9)
    edges = affine.apply(crop_to_image, [[-0.5, -0.5], [255.5, -0.5], [255.5, 255.5], [-0.5, 255.5]])
    np.testing.assert_allclose(edges, region.corners(), atol=1e-9)


# ------------------------------------------------------------------------------------------- image input


def test_read_image_errors(tmp_path):
    with pytest.raises(ImageReadError, match="not found"):
        image_io.read_image(tmp_path / "missing.jpg")
    with pytest.raises(ImageReadError, match="directory"):
        image_io.read_image(tmp_path)
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    with pytest.raises(ImageReadError, match="not an image"):
        image_io.read_image(text)
    from PIL import Image

    Image.new("RGB", (8, 40)).save(tmp_path / "tiny.png")
    with pytest.raises(ImageReadError, match="too small"):
        image_io.read_image(tmp_path / "tiny.png")
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(pathlib.Path(PHOTO).read_bytes()[:2000])
    with pytest.raises(ImageReadError, match="cannot be decoded"):
        image_io.read_image(truncated)
    assert issubclass(ImageReadError, PoseDiffError)


def test_read_image_applies_exif_orientation(tmp_path):
    from PIL import Image

    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = 255  # left half white
    image = Image.fromarray(pixels)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise when displayed
    image.save(tmp_path / "rotated.jpg", exif=exif.tobytes(), quality=100)
    read = image_io.read_image(tmp_path / "rotated.jpg")
    assert read.shape == (40, 20, 3) and read.dtype == np.uint8
    assert read[:15].mean() > 200 and read[25:].mean() < 50  # the white half is now on top


# ------------------------------------------------------------------------------- photo -> evidence


def test_missing_runtime_gives_install_hint(monkeypatch):
    def missing():
        raise DetectorNotInstalledError(blazepose.INSTALL_HINT)

    monkeypatch.setattr(blazepose, "_interpreter_class", missing)
    blazepose.load_interpreter.cache_clear()
    try:
        with pytest.raises(DetectorNotInstalledError, match=r"pip install 'posediff_jax\[detector\]'"):
            front_end.image_to_evidence(PHOTO)
    finally:
        blazepose.load_interpreter.cache_clear()


@pytest.fixture(scope="module")
def everyone():
    pytest.importorskip("ai_edge_litert")
    return front_end.image_to_evidence(PHOTO, all_people=True)


def as_dict(evidence):
    if isinstance(evidence, dict):
        return evidence
    return {name: np.asarray(getattr(evidence, name)) for name in front_end.EVIDENCE_FIELDS}


def test_apollo_photo_finds_three_people_largest_first(everyone):
    assert len(everyone) == 3
    sides = [info["region"]["side"] for _, info in everyone]
    assert sides == sorted(sides, reverse=True)
    centres = sorted(float(np.mean(info["person_box"][[0, 2]])) for _, info in everyone)
    # Armstrong (left), Collins (middle), Aldrin (right) on a 600 pixel wide photo.
    assert centres[0] < 200 < centres[1] < 400 < centres[2]
    assert [info["person_index"] for _, info in everyone] == [0, 1, 2]


def test_evidence_fields_shapes_and_normalisation(everyone):
    evidence, info = everyone[0]
    from posediff_jax.guidance.evidence import HeatmapEvidence

    assert isinstance(evidence, HeatmapEvidence)
    fields = as_dict(evidence)
    assert np.shape(fields["heatmaps"]) == (17, 64, 64)
    probabilities = info["heatmap_probabilities"]
    np.testing.assert_allclose(np.sum(probabilities, axis=(1, 2)), 1.0, rtol=1e-4)
    assert np.all(probabilities > 0) and np.all(np.asarray(fields["heatmaps"]) > 0)
    # The evidence holds each map divided by its peak (make_heatmap_evidence), so log ratios are the logits'.
    np.testing.assert_allclose(np.max(fields["heatmaps"], axis=(1, 2)), 1.0, rtol=1e-5)
    peak_normalised = probabilities / probabilities.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(fields["heatmaps"], peak_normalised, rtol=1e-4, atol=1e-30)
    assert np.shape(fields["image_to_heatmap"]) == (2, 3)
    weights = np.asarray(fields["joint_weights"])
    assert weights.shape == (17,) and np.all((weights >= 0) & (weights <= 1))
    assert weights[skeleton.JOINT_INDEX["Spine"]] == 0 and weights[skeleton.JOINT_INDEX["Head"]] == 0
    np.testing.assert_allclose(probabilities[skeleton.JOINT_INDEX["Head"]], 1 / 4096, rtol=1e-5)
    # Upper body clearly visible in the portrait.
    for name in ("LShoulder", "RShoulder", "LHip", "RHip", "Neck/Nose"):
        assert weights[skeleton.JOINT_INDEX[name]] > 0.9, name
    assert np.shape(fields["keypoints_2d"]) == (17, 2)
    assert np.shape(fields["root_translation"]) == (3,) and 1000 < fields["root_translation"][2] < 10000
    assert not bool(fields["use_given_root"])
    assert info["landmarks"].shape == (39, 5)
    assert info["intrinsics_source"] == "assumed field of view 50 degrees"
    assert info["image_size"] == (600, 471)
    # The shoulders lie inside the person box and the box inside the photo.
    x_min, y_min, x_max, y_max = info["person_box"]
    for name in ("LShoulder", "RShoulder"):
        x, y = fields["keypoints_2d"][skeleton.JOINT_INDEX[name]]
        assert x_min <= x <= x_max and y_min <= y <= y_max
    assert 0 <= x_min < x_max <= 599 and 0 <= y_min < y_max <= 470


def test_heatmap_peaks_match_landmarks_in_image_pixels(everyone):
    """The heatmaps read through image_to_heatmap peak where the landmark regression puts the joint."""
    all_distances = []
    for evidence, info in everyone:
        fields = as_dict(evidence)
        peaks = front_end.heatmap_peaks_in_image(fields["heatmaps"], fields["image_to_heatmap"])
        cell_pixels = info["region"]["side"] / 64  # image pixels per heatmap cell (~9 here)
        confident = np.asarray(fields["joint_weights"]) > 0.8
        distances = np.linalg.norm(peaks - fields["keypoints_2d"], axis=-1)[confident] / cell_pixels
        assert np.all(distances < 4.0), distances
        all_distances.append(distances)
    assert np.median(np.concatenate(all_distances)) < 1.5


def test_default_is_largest_person_only_and_given_intrinsics(everyone):
    intrinsics = np.array([[900.0, 0.0, 300.0], [0.0, 900.0, 235.0], [0.0, 0.0, 1.0]])
    only = front_end.image_to_evidence(PHOTO, intrinsics=intrinsics)
    assert len(only) == 1
    evidence, info = only[0]
    assert info["intrinsics_source"] == "given"
    np.testing.assert_allclose(as_dict(evidence)["intrinsics"], intrinsics)
    np.testing.assert_allclose(as_dict(evidence)["keypoints_2d"], as_dict(everyone[0][0])["keypoints_2d"], atol=1e-4)


def test_blank_image_has_no_person(tmp_path):
    pytest.importorskip("ai_edge_litert")
    from PIL import Image

    Image.new("RGB", (320, 240), (30, 30, 30)).save(tmp_path / "blank.png")
    with pytest.raises(NoPersonFoundError, match="no person found"):
        front_end.image_to_evidence(tmp_path / "blank.png")


def test_tiny_person_is_rejected(monkeypatch):
    pytest.importorskip("ai_edge_litert")
    monkeypatch.setattr(front_end, "MINIMUM_REGION_SIDE", 10_000.0)
    with pytest.raises(CropTooSmallError, match="too small|needs >="):
        front_end.image_to_evidence(PHOTO)


# ------------------------------------------------------------------------------------------- overlay


def test_overlay_draws_skeleton_and_reprojection():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from posediff_jax import visualization as overlay

    image = np.zeros((100, 120, 3), np.uint8)
    keypoints = np.random.default_rng(0).uniform(10, 90, size=(17, 2))
    weights = np.ones(17)
    weights[[7, 10]] = 0.0  # skipped joints: bones touching them are not drawn
    figure, ax = plt.subplots()
    overlay.draw_image_with_keypoints(ax, image, keypoints, reprojected_2d=keypoints + 1.0, weights=weights)
    bones_touching_skipped = sum(1 for child, parent in skeleton.BONES if weights[child] == 0 or weights[parent] == 0)
    assert len(ax.lines) == (16 - bones_touching_skipped) + 16
    assert ax.get_xlim() == (-0.5, 119.5) and ax.get_ylim() == (99.5, -0.5)
    plt.close(figure)


# ------------------------------------------------------------------------------------------ small photos


def test_upscale_for_detection_maps_pixel_centres_and_keeps_large_images():
    large = np.zeros((300, 400, 3), np.uint8)
    same, identity = front_end.upscale_for_detection(large)
    assert same is large
    np.testing.assert_allclose(identity, [[1, 0, 0], [0, 1, 0]])
    small = np.zeros((100, 150, 3), np.uint8)
    small[40:60, 70:80] = 255  # a bright block: its centre (74.5, 49.5) must map onto the upscaled block's centre
    working, to_working = front_end.upscale_for_detection(small, min_short_side=256)
    assert working.shape == (256, 384, 3) and working.dtype == np.uint8
    rows, cols = np.nonzero(working[..., 0] > 127)
    np.testing.assert_allclose(affine.apply(to_working, [74.5, 49.5]), [cols.mean(), rows.mean()], atol=0.6)
    # The outer pixel edges coincide.
    np.testing.assert_allclose(affine.apply(to_working, [[-0.5, -0.5], [149.5, 99.5]]), [[-0.5, -0.5], [383.5, 255.5]])


def test_small_jpeg_photo_finds_a_person_in_its_own_pixels(tmp_path, everyone):
    """The shipped photo at 200 px wide (bicubic, JPEG quality 75) found nobody before small images were upscaled;
    the keypoints come back in the small image's pixels (those of the full-size photo, scaled)."""
    from PIL import Image

    width, height = 200, 157
    path = tmp_path / "small.jpg"
    with Image.open(PHOTO) as photo:
        photo.resize((width, height), Image.BICUBIC).save(path, quality=75)
    people = front_end.image_to_evidence(path, all_people=True)
    assert len(people) >= 1
    evidence, info = people[0]
    assert info["image_size"] == (width, height)
    keypoints = np.asarray(evidence.keypoints_2d)
    confident = np.asarray(evidence.joint_weights) > 0.5
    assert confident.sum() >= 8
    assert np.all((keypoints[confident] > -0.5) & (keypoints[confident] < [width - 0.5, height - 0.5]))
    scale = np.array([width / 600, height / 471])
    errors = []
    for full_evidence, _ in everyone:  # the same person at full size, mapped into the small image's pixels
        expected = (np.asarray(full_evidence.keypoints_2d) + 0.5) * scale - 0.5
        errors.append(np.median(np.linalg.norm(expected - keypoints, axis=-1)[confident]))
    assert min(errors) < 6.0, errors  # measured 2.7 px (one shoulder width is ~25 px here)
    # The heatmap evidence agrees with the keypoints in the same (small) frame.
    peaks = front_end.heatmap_peaks_in_image(np.asarray(evidence.heatmaps), np.asarray(evidence.image_to_heatmap))
    assert np.median(np.linalg.norm(peaks - keypoints, axis=-1)[confident]) < 3.0
