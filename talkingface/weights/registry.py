"""Where each network's weights live in SadTalker's official checkpoint files.

Two layouts exist. The current one (v0.0.2-rc) has one flat safetensors per render size whose keys
carry a part prefix (``audio2exp.``, ``face_3drecon.`` ...), plus the two MappingNet ``.pth.tar``
files (dict key ``mapping``). The legacy one (v0.0.2) has one torch file per network family, keyed by
a dict entry and without inner prefixes. The HEEstimator exists only in the legacy layout.
"""

from __future__ import annotations

from dataclasses import dataclass

SIZES = (256, 512)
SAFETENSORS_FILE = "SadTalker_V0.0.2_{size}.safetensors"
MAPPING_FILE = "mapping_00229-model.pth.tar"  # coeff_nc 70: crop / extcrop / resize
MAPPING_FULL_FILE = "mapping_00109-model.pth.tar"  # coeff_nc 73: full / extfull


@dataclass(frozen=True)
class Entry:
    """One part inside one file: a flat safetensors (``dict_key`` None) or ``torch.load(file)[dict_key]``.

    ``prefix`` is stripped from the stored keys (exact prefix match, never a substring match).
    """

    file: str
    dict_key: str | None = None
    prefix: str = ""

    @property
    def is_safetensors(self) -> bool:
        return self.dict_key is None


@dataclass(frozen=True)
class Part:
    """A network's checkpoint entries in the current and the legacy layout (None: not stored there)."""

    name: str
    current: Entry | None
    legacy: Entry | None

    def entry(self, size: int = 256, legacy: bool = False) -> Entry:
        """The entry for render ``size`` in the chosen layout."""
        if size not in SIZES:
            raise ValueError(f"size: expected one of {SIZES}, got {size!r}")
        if legacy and size != 256:
            raise ValueError("size: the legacy checkpoints exist only for size 256")
        entry = self.legacy if legacy else self.current
        if entry is None:
            layout = "legacy" if legacy else "safetensors"
            raise ValueError(f"part {self.name!r} is not stored in the {layout} checkpoint layout")
        return Entry(entry.file.format(size=size), entry.dict_key, entry.prefix)


def _packed(name: str) -> Entry:
    return Entry(SAFETENSORS_FILE, None, name + ".")


_FACEVID2VID = "facevid2vid_00189-model.pth.tar"

PARTS: dict[str, Part] = {
    part.name: part
    for part in (
        Part("audio2exp", _packed("audio2exp"), Entry("auido2exp_00300-model.pth", "model")),
        Part("audio2pose", _packed("audio2pose"), Entry("auido2pose_00140-model.pth", "model")),
        Part("kp_extractor", _packed("kp_extractor"), Entry(_FACEVID2VID, "kp_detector")),
        Part("generator", _packed("generator"), Entry(_FACEVID2VID, "generator")),
        Part("face_3drecon", _packed("face_3drecon"), Entry("epoch_20.pth", "net_recon")),
        Part("mapping", Entry(MAPPING_FILE, "mapping"), Entry(MAPPING_FILE, "mapping")),
        Part("mapping_full", Entry(MAPPING_FULL_FILE, "mapping"), Entry(MAPPING_FULL_FILE, "mapping")),
        Part("he_estimator", None, Entry(_FACEVID2VID, "he_estimator")),
    )
}


def part(name: str) -> Part:
    """The registry entry of a part, with a clear error for unknown names."""
    if name not in PARTS:
        raise KeyError(f"unknown checkpoint part {name!r}; known parts: {sorted(PARTS)}")
    return PARTS[name]


def layout_parts(legacy: bool = False) -> list[str]:
    """All parts stored in a layout."""
    return [name for name, p in PARTS.items() if (p.legacy if legacy else p.current) is not None]


def layout_files(size: int = 256, legacy: bool = False, parts: list[str] | None = None) -> list[str]:
    """The distinct file names holding ``parts`` (default: every part of the layout), in registry order."""
    names = parts if parts is not None else layout_parts(legacy)
    return list(dict.fromkeys(part(n).entry(size, legacy).file for n in names))
