"""packet.html in a real browser (headless Chromium): the sections render, no model output runs."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from packet_runs import hostile_packet

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
SECTIONS = ["verdict", "headline", "changes", "confusion", "failures", "cases", "cost"]

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install chromium; .ci/run installs it)"
)


def chromium(profile: Path, *args: str) -> str:
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    packet = hostile_packet(folder)
    html = folder / "packet" / "packet.html"
    dom = chromium(folder / "profile", "--dump-dom", html.as_uri())
    return packet, html, dom, folder


def test_every_section_renders(page):
    _, _, dom, _ = page
    for section in SECTIONS:
        assert re.search(rf'<section id="{section}"[^>]*>\s*<h2', dom), section
    assert dom.count("<svg") == 4


def test_the_verdict_banner_is_at_the_top(page):
    _, _, dom, _ = page
    assert dom.index('class="banner no_policy"') < dom.index('id="headline"')
    assert "NO GATE POLICY" in dom


def test_no_script_from_model_output_runs(page):
    packet, _, dom, _ = page
    assert re.search(r"<title>(.*?)</title>", dom).group(1) == packet["title"]
    assert "pwned" not in re.search(r"<title>(.*?)</title>", dom).group(1)
    assert "<script" not in dom and "<img" not in dom
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in dom


def test_template_syntax_in_output_shows_as_written(page):
    _, _, dom, _ = page
    assert "{{ 7 * 7 }} {% if true %}yes{% endif %}" in dom


def test_a_screenshot_of_the_packet_is_saved(page):
    _, html, _, folder = page
    shot = folder / "packet.png"
    chromium(
        folder / "profile-shot", f"--screenshot={shot}", "--window-size=1280,4000", "--hide-scrollbars", html.as_uri()
    )
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
