"""Tolerances per golden tensor (oracle README: mel 1e-5, coefficients/keypoints 1e-4, frames 1e-3)."""

# Longest matching prefix wins.
TOLERANCES: dict[str, float] = {
    "audio.": 1e-5,
    "src.": 0.0,
    "a2e.ratio": 0.0,
    "a2e.ref": 0.0,
    "a2e.": 1e-4,
    "a2p.class": 0.0,
    "a2p.z": 0.0,
    "a2p.": 1e-4,
    "a2c.": 1e-4,
    "map.": 1e-4,
    "fr.source_image": 1e-5,
    "fr.source_semantics": 0.0,
    "fr.target_semantics": 0.0,
    "fr.": 1e-4,
    "fr.prediction": 1e-3,
    "fr.frames_uint8": 1.0,
    "recon.source_png_rgb": 0.0,
    "recon.lm68": 1e-4,
    "recon.input": 1e-5,
    "recon.": 1e-4,
}


def tolerance_for(name: str) -> float:
    matches = [prefix for prefix in TOLERANCES if name.startswith(prefix)]
    if not matches:
        return 1e-4
    return TOLERANCES[max(matches, key=len)]
