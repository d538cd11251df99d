"""The console page's files (web/console_static/), read as text: nothing fetched from another host,
post data never parsed as HTML, every interface string in Italian and English, the chart library's
licence and version shipped beside it."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

STATIC = Path(__file__).resolve().parents[2] / "web" / "console_static"
OWN_FILES = sorted(p for p in STATIC.glob("*") if p.suffix in {".html", ".js", ".css"})
SCRIPTS = [p for p in OWN_FILES if p.suffix == ".js"]
URL = re.compile(r"""(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}[^\s"'`)]*""", re.IGNORECASE)
#: The SVG namespace is a name the DOM API wants, not an address anything is fetched from.
NOT_FETCHED = {"http://www.w3.org/2000/svg"}


def test_the_page_and_its_modules_exist() -> None:
    names = {p.name for p in OWN_FILES}
    assert {"index.html", "console.js", "console.css", "i18n.js"} <= names
    assert (STATIC / "vendor" / "uPlot.iife.min.js").is_file()


@pytest.mark.parametrize("path", OWN_FILES, ids=lambda p: p.name)
def test_no_file_refers_to_another_host(path: Path) -> None:
    found = {m.group(0) for m in URL.finditer(path.read_text(encoding="utf-8"))} - NOT_FETCHED
    assert not found, f"{path.name} refers to {sorted(found)}: the console must work without reaching other hosts"


def test_vendored_files_load_nothing_from_elsewhere() -> None:
    script = (STATIC / "vendor" / "uPlot.iife.min.js").read_text(encoding="utf-8")
    header, _, body = script.partition("\n")
    assert header.startswith("/*!") and "v1.6.32" in header  # the licence banner names the version
    assert not URL.search(body)
    assert not URL.search((STATIC / "vendor" / "uPlot.min.css").read_text(encoding="utf-8"))
    assert "MIT License" in (STATIC / "vendor" / "uPlot.LICENSE").read_text(encoding="utf-8")
    assert "1.6.32" in (STATIC / "vendor" / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_scripts_never_parse_text_as_html(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in source, f"{path.name} uses {sink}: post text must go in as textContent"


def _strings() -> dict[str, dict[str, object]]:
    """STRINGS of i18n.js, read by Node (the file is the one source of the words)."""
    code = f"import('{(STATIC / 'i18n.js').as_uri()}').then(m => console.log(JSON.stringify(m.STRINGS)))"
    try:
        out = subprocess.run(["node", "--input-type=module", "-e", code], capture_output=True, text=True, check=True)
    except FileNotFoundError:
        pytest.skip("node is not installed: the i18n check reads i18n.js with Node.js")
    return json.loads(out.stdout)


def test_italian_and_english_have_the_same_words() -> None:
    strings = _strings()
    assert set(strings) == {"en", "it"}
    assert set(strings["en"]) == set(strings["it"])
    for key, english in strings["en"].items():
        italian = strings["it"][key]
        if isinstance(english, dict):
            assert isinstance(italian, dict) and {"one", "other"} <= set(english) & set(italian), key
        else:
            placeholders = set(re.findall(r"\{(\w+)\}", str(english)))
            assert placeholders == set(re.findall(r"\{(\w+)\}", str(italian))), key


def test_every_label_of_the_page_has_its_words() -> None:
    strings = _strings()
    used = set(re.findall(r'data-i18n="([^"]+)"', (STATIC / "index.html").read_text(encoding="utf-8")))
    for script in SCRIPTS:
        used |= set(re.findall(r'\bt\("([a-z_]+)"', script.read_text(encoding="utf-8")))
    missing = sorted(used - set(strings["en"]))
    assert not missing, f"keys without words in i18n.js: {missing}"
