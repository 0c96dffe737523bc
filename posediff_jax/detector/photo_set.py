"""Many photos in one run (`posediff estimate --image a.jpg photos/`): folders expanded, failures set aside.

Of several photos, one that cannot be used (unreadable, no person, the person too small) is skipped with a
`SkippedImageWarning` and listed in the output; only when none gives a person is it an error. A single photo's
problem is the command's error.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import warnings
from typing import Any, Callable, Sequence

from posediff_jax.detector.errors import CropTooSmallError, ImageReadError, NoPersonFoundError
from posediff_jax.validation import PoseDiffError

# A folder gives its files with these suffixes (not hidden, not in sub-folders, by name), except a PNG with a .npz
# of the same name beside it (a posediff plot). A file named on the command line is tried whatever its suffix.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm")
# What a run over many photos survives; anything else (the detector not installed, a bug) stops it.
SKIPPABLE_ERRORS = (ImageReadError, NoPersonFoundError, CropTooSmallError)


class SkippedImageWarning(UserWarning):
    """A photo of several was skipped (unreadable, no person, person too small); the run goes on without it."""


@dataclasses.dataclass(frozen=True)
class PhotoSet:
    """The photos of one run in order; `several` when a folder or more than one path was given."""

    files: tuple[pathlib.Path, ...]
    several: bool


@dataclasses.dataclass
class PeopleFound:
    """Per person (the frames of the run): evidence, photo, person_index (0: its largest) and intrinsics_source;
    per photo that gave nobody: `skipped` (path, reason)."""

    evidence: list = dataclasses.field(default_factory=list)
    image_files: list[str] = dataclasses.field(default_factory=list)
    person_index: list[int] = dataclasses.field(default_factory=list)
    intrinsics_source: list[str] = dataclasses.field(default_factory=list)
    skipped: list[tuple[str, str]] = dataclasses.field(default_factory=list)


def expand_photo_paths(paths: Sequence[str | os.PathLike], flag: str = "--image") -> PhotoSet:
    """The photo files of `paths` (files and folders) in order, each once; `PoseDiffError` naming `flag` for no
    path, a missing one or a folder without images."""
    paths = [pathlib.Path(path) for path in paths]
    if not paths:
        raise PoseDiffError(f"{flag}: expected at least one image file or folder")
    files: list[pathlib.Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(child for child in path.iterdir() if child.suffix.lower() in IMAGE_SUFFIXES
                           and not child.name.startswith(".") and child.is_file()
                           and not (child.suffix.lower() == ".png" and child.with_suffix(".npz").is_file()))
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
    """`image_to_evidence(path, all_people=...)` on each photo (`progress()` after each), skipping those that raise
    `SKIPPABLE_ERRORS` when `photos.several`; keeps only what the output needs (not the detector's raw outputs)."""
    found = PeopleFound()
    for path in photos.files:
        try:
            people = image_to_evidence(path, all_people=all_people)
        except SKIPPABLE_ERRORS as error:
            if not photos.several:
                raise
            reason = str(error).removeprefix(f"image {str(path)!r}: ")  # the path is recorded beside it
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
