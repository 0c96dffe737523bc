"""Many photos in one run: folders expanded, each photo through the front end, failures set aside.

`posediff estimate --image a.jpg b.jpg photos/` samples every detected person of every photo with one compiled
sampler. A photo that cannot be used (unreadable or damaged, no person found, the person too small) must not cost
the user the other photos' results: it is skipped with one `SkippedImageWarning` line naming it and why, and
listed in the output (`skipped_images`, `skipped_reasons`). Only when no photo gives a person is it an error.
A single photo given by name keeps the single-photo contract: its problem is the command's error (exit 2).
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import warnings
from typing import Any, Callable, Sequence

from posediff_jax.detector.errors import CropTooSmallError, ImageReadError, NoPersonFoundError
from posediff_jax.validation import PoseDiffError

# What a folder contributes: files with these suffixes (any case), not hidden, not in sub-folders, sorted by name,
# except a PNG with a .npz of the same name beside it: that is a posediff result's plot (a photo with a person
# drawn over it, which the detector would find again). A file named on the command line is tried whatever its
# suffix (Pillow decides).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm")
# The problems of one photo that a run over many photos survives; anything else (the detector not installed, a
# bug) stops the run.
SKIPPABLE_ERRORS = (ImageReadError, NoPersonFoundError, CropTooSmallError)


class SkippedImageWarning(UserWarning):
    """A photo of several was skipped (unreadable, no person, person too small); the run goes on without it."""


@dataclasses.dataclass(frozen=True)
class PhotoSet:
    """The photos of one run: `files` in order; `several` when a folder or more than one path was given (then a
    photo's problem is skipped, not fatal)."""

    files: tuple[pathlib.Path, ...]
    several: bool


@dataclasses.dataclass
class PeopleFound:
    """Per person (the frames axis of the run): `evidence` (HeatmapEvidence each), `image_files`, `person_index`
    (0 = the largest person of its photo) and `intrinsics_source` (where the photo's camera came from: given, the
    photo's Exif or an assumed field of view); per photo that gave nobody: `skipped` (path, reason)."""

    evidence: list = dataclasses.field(default_factory=list)
    image_files: list[str] = dataclasses.field(default_factory=list)
    person_index: list[int] = dataclasses.field(default_factory=list)
    intrinsics_source: list[str] = dataclasses.field(default_factory=list)
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)


def _folder_images(folder: pathlib.Path) -> list[pathlib.Path]:
    def is_photo(path: pathlib.Path) -> bool:
        if path.suffix.lower() not in IMAGE_SUFFIXES or path.name.startswith(".") or not path.is_file():
            return False
        return not (path.suffix.lower() == ".png" and path.with_suffix(".npz").is_file())

    return sorted(path for path in folder.iterdir() if is_photo(path))


def expand_photo_paths(paths: Sequence[str | os.PathLike], flag: str = "--image") -> PhotoSet:
    """The photo files named by `paths` (files and folders), in the order given, each file once.

    Raises `PoseDiffError` (naming `flag`) for no path, a path that does not exist, or a folder without images.
    """
    paths = [pathlib.Path(path) for path in paths]
    if not paths:
        raise PoseDiffError(f"{flag}: expected at least one image file or folder")
    files: list[pathlib.Path] = []
    for path in paths:
        if path.is_dir():
            found = _folder_images(path)
            if not found:
                raise PoseDiffError(f"{flag}: folder {str(path)!r} holds no image files "
                                    f"({', '.join(IMAGE_SUFFIXES)}; sub-folders are not searched)")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise PoseDiffError(f"{flag}: file {str(path)!r} not found")
    unique: dict[str, pathlib.Path] = {}
    for path in files:
        unique.setdefault(os.path.realpath(path), path)
    several = len(paths) > 1 or any(path.is_dir() for path in paths)
    return PhotoSet(files=tuple(unique.values()), several=several)


def find_people(photos: PhotoSet, all_people: bool, image_to_evidence: Callable[..., list[tuple[Any, dict]]],
                progress: Callable[[], None] | None = None) -> PeopleFound:
    """Runs `image_to_evidence(path, all_people=...)` (the front end's, passed in so that tests can count calls)
    on each photo; `progress()` after each.

    With `photos.several`, a photo raising one of `SKIPPABLE_ERRORS` is skipped with a `SkippedImageWarning`;
    if every photo is skipped, a `PoseDiffError` says how many and why. A single photo's error is raised as is.
    Only what the sampler and the output need is kept per person (not the detector's raw outputs), so a run over
    thousands of photos holds ~0.3 MB per person.
    """
    found = PeopleFound()
    for path in photos.files:
        try:
            people = image_to_evidence(path, all_people=all_people)
        except SKIPPABLE_ERRORS as error:
            if not photos.several:
                raise
            reason = _without_path(str(error), path)
            found.skipped.append((str(path), reason))
            warnings.warn(SkippedImageWarning(f"skipped {str(path)!r}: {reason}"), stacklevel=2)
        else:
            for person_index, (evidence, info) in enumerate(people):
                found.evidence.append(evidence)
                found.image_files.append(str(path))
                found.person_index.append(person_index)
                found.intrinsics_source.append(str(info.get("intrinsics_source", "")))
        if progress is not None:
            progress()
    if not found.evidence:
        reasons = "; ".join(f"{path!r}: {reason}" for path, reason in found.skipped[:3])
        more = f" (and {len(found.skipped) - 3} more)" if len(found.skipped) > 3 else ""
        raise PoseDiffError(f"--image: none of the {len(photos.files)} photos gave a person: {reasons}{more}")
    return found


def _without_path(message: str, path) -> str:
    """The front end's message without its leading "image 'PATH': " (the path is recorded beside it)."""
    prefix = f"image {str(path)!r}: "
    return message[len(prefix):] if message.startswith(prefix) else message
