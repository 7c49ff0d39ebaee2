"""The HTML email as a browser renders it: headless Chromium, DOM and screenshot.

Chromium is Debian's ``chromium``, installed by ``.ci/run``; the tests never
install it. Under ``CI`` a missing browser fails the test, elsewhere it is
skipped with the reason.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from calsync.report import render_html
from calsync.report.model import CELL_KINDS
from tests.report_support import (
    DEMO_MONDAY,
    DEMO_REPORTS,
    TEAMS,
    build,
    colours,
    decode_png,
    dump_dom,
    encode_png,
    find_chromium,
    hex_rgb,
    other_names,
    report_names,
    screenshot,
)
from tests.support import cli


@pytest.fixture(scope="module")
def browser() -> str:
    return find_chromium()


@pytest.fixture
def demo_email(team: Path, tmp_path: Path) -> Path:
    out = tmp_path / "emails"
    code, _, stderr = cli(team, "report", "--week", "2026-W47", "--now", DEMO_MONDAY,
                          "--out", str(out))
    assert code == 0, stderr
    return out / "2026-W47-maria@example.com.html"


def test_the_demo_email_renders_every_report_and_the_colour_strip(
    browser: str, demo_email: Path, tmp_path: Path
) -> None:
    dom = dump_dom(browser, demo_email)
    assert "Maria, 4 of your 7 1:1s need attention." in dom
    for name in DEMO_REPORTS:
        assert name in dom
    assert "What to do:" in dom and "Who gets bumped" in dom
    assert "<script" not in dom.lower()

    png = tmp_path / "email.png"
    screenshot(browser, demo_email, png, width=760, height=1800)
    width, height, rows, bpp = decode_png(png.read_bytes())
    assert (width, height) == (760, 1800)
    seen = colours(rows, bpp)
    assert len(seen) > 50, "the page looks blank"
    # The strip is drawn in colour: held, shortened, cancelled, declined, nothing held.
    for kind in ("held", "shortened", "cancelled", "declined", "missed"):
        assert hex_rgb(CELL_KINDS[kind].colour) in seen, kind


@pytest.mark.parametrize("manager", sorted(TEAMS))
def test_a_rendered_email_shows_no_other_managers_reports(
    browser: str, manager: str, tmp_path: Path
) -> None:
    page = tmp_path / "email.html"
    page.write_text(render_html(build(manager)), encoding="utf-8")
    dom = dump_dom(browser, page)
    for name in report_names(manager):
        assert name in dom
    for name in other_names(manager):
        assert name not in dom


def test_png_decoder_reverses_every_filter() -> None:
    def pixel(x: int, y: int) -> tuple[int, int, int]:
        return (x * 37 + y * 11) % 256, (x * y) % 256, (200 - x + y * 3) % 256

    width, height, rows, bpp = decode_png(encode_png(9, 10, pixel))
    assert (width, height, bpp) == (9, 10, 3)
    for y, row in enumerate(rows):
        assert row == bytes(c for x in range(9) for c in pixel(x, y))
