"""One entry point over the three parsers, with dataset auto-detection from the name's shape."""

from __future__ import annotations

import re

from talkingface.corpus import cremad, mead, ravdess
from talkingface.corpus.labels import DATASETS, ClipLabel, Rejection
from talkingface.corpus.names import BadName, split_name

PARSERS = {"cremad": cremad.parse, "ravdess": ravdess.parse, "mead": mead.parse}
SHAPES = (
    ("cremad", re.compile(r"\d{4}_.*")),
    ("ravdess", re.compile(r"\d+(-\d+)+")),
    ("mead", re.compile(r"[MW]\d{3}[_#].*")),
)
MEAD_ACTOR_DIR = re.compile(r"[MW]\d{3}")


def detect(path: str) -> str | None:
    """The dataset whose naming ``path`` looks like, or ``None``; the strict parser decides validity."""
    dirs, stem, _ = split_name(path)
    for dataset, shape in SHAPES:
        if shape.fullmatch(stem):
            return dataset
    if any(MEAD_ACTOR_DIR.fullmatch(d) for d in dirs):
        return "mead"
    return None


def parse(path: str, dataset: str = "auto", *, media: bool = True) -> ClipLabel | Rejection:
    """Labels of one file, or a ``Rejection`` saying why not (never a guess).

    ``media=False`` is for files named after clips (e.g. beta ``.pt`` files): the extension is not checked.
    """
    if dataset != "auto" and dataset not in PARSERS:
        raise ValueError(f"dataset must be 'auto' or one of {DATASETS}, got {dataset!r}")
    name = None if dataset == "auto" else dataset
    try:
        name = name or detect(path)
        if name is None:
            raise BadName(
                "unrecognised name: not CREMA-D (AAAA_SSS_EEE_LL), RAVDESS (7 two-digit fields) or MEAD"
            )
        return PARSERS[name](path, media=media)
    except BadName as err:
        return Rejection(path=path, reason=str(err), dataset=name)
