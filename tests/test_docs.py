"""The README: its module map names every file of the package, and only those; its pictures are there."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "torch_poet"


def test_module_map_lists_every_file():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Architecture") :]
    listed = set(re.findall(r"^\| `([\w/]+(?:\.py|/))` \|", section, re.M))
    files = {str(p.relative_to(PACKAGE)) for p in PACKAGE.rglob("*.py")} | {"static/"}
    assert listed == files, f"missing from the map: {sorted(files - listed)}; gone: {sorted(listed - files)}"


def test_the_readme_pictures_are_there_and_each_is_taken_by_the_script():
    """The web section's screenshots: every one linked exists, and docs/screenshots.py takes each (tab, theme)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    pictures = re.findall(r"!\[[^\]]*\]\((docs/screenshots/([a-z]+)-(light|dark)\.png)\)", readme)
    assert {(tab, theme) for _, tab, theme in pictures} == {
        (tab, theme) for tab in ("write", "check", "chat", "training", "library") for theme in ("light", "dark")}
    assert all((ROOT / path).stat().st_size > 10_000 for path, _, _ in pictures)
    script = (ROOT / "docs" / "screenshots.py").read_text(encoding="utf-8")
    assert all(f'shot(page, "{tab}", theme)' in script for _, tab, _ in pictures)
