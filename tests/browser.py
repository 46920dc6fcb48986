"""Headless Chromium for page tests: load a page, report what loaded, take a screenshot."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

# Injected into a copy of the page: after load, record every section id, image and video state.
PROBE = """<script>
window.addEventListener('load', () => setTimeout(() => {
  const r = {
    sections: [...document.querySelectorAll('section[id]')].map(s => s.id),
    images: [...document.images].map(i => ({ok: i.complete && i.naturalWidth > 0, alt: i.alt})),
    videos: [...document.querySelectorAll('video')].map(v => ({
      src: v.getAttribute('src'), ready: v.readyState, error: v.error && v.error.code,
      width: v.videoWidth, duration: v.duration})),
  };
  document.body.setAttribute('data-probe', JSON.stringify(r));
}, 1500));
</script>"""


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail("chromium is not installed (run .ci/run or apt-get install chromium)")
    return path


def _run(*args: str) -> str:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio"]
    done = subprocess.run([chromium(), *flags, *args], capture_output=True, text=True, timeout=120)
    return done.stdout


def probe_page(page: Path) -> dict:
    """Open ``page`` (a copy with the probe script beside it) and return what the probe recorded."""
    probed = page.with_name(f".probe-{page.name}")
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    try:
        dom = _run("--virtual-time-budget=15000", "--dump-dom", probed.resolve().as_uri())
    finally:
        probed.unlink()
    found = re.search(r'data-probe="([^"]*)"', dom)
    assert found, f"the probe did not run in {page}"
    return json.loads(html.unescape(found.group(1)))


def screenshot(page: Path, png: Path, size: tuple[int, int] = (1200, 2400)) -> Path:
    """A PNG screenshot of ``page``."""
    _run(f"--window-size={size[0]},{size[1]}", f"--screenshot={png}", page.resolve().as_uri())
    assert png.is_file() and png.stat().st_size > 10_000, f"no screenshot of {page}"
    return png
