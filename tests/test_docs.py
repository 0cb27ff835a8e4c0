"""The README's module map names every file of the package, and only those."""

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
