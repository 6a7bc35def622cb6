"""The README's promises to a newcomer: its examples (and those of ``docs/``) leave
`git status` clean, the set-up section says what `make test` skips before `make data`, and
the front page stays a front page (≤ 150 lines, its links and the results block intact)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()
DOCS = sorted((REPO / "docs").glob("*.md"))
EVERY_PAGE = "\n".join([README, *(p.read_text() for p in DOCS)])


def written_paths(text: str) -> list[str]:
    """Paths the README's commands write: np.save targets, out=, hydra.run.dir=."""
    paths = re.findall(r"np\.save\('([^']+)'", text)
    paths += re.findall(r"\b(?:out|hydra\.run\.dir)=([\w./-]+)", text)
    return [p for p in paths if not p.startswith(("DIR", "D", "/"))]


@pytest.mark.skipif(
    shutil.which("git") is None or not (REPO / ".git").exists(), reason="needs a git checkout"
)
def test_readme_examples_write_only_ignored_paths():
    paths = written_paths(EVERY_PAGE)
    assert "outputs/runs/km_digits" in paths  # the predict example is found
    for path in paths:
        ignored = subprocess.run(
            ["git", "check-ignore", "-q", "--no-index", f"{path}/x"], cwd=REPO
        ).returncode
        assert ignored == 0, f"the docs write {path}, which git status would show"
    assert (
        subprocess.run(["git", "check-ignore", "-q", "outputs/preds/x"], cwd=REPO).returncode == 0
    )


def test_setup_section_says_make_test_skips_real_data_before_make_data():
    setup = README.split("## Set-up", 1)[1].split("\n## ", 1)[0]
    assert "make test` before `make data` skips" in setup


def test_front_page_is_short_and_its_links_resolve():
    from src.reproduce.readme import BEGIN, END

    assert len(README.splitlines()) <= 150
    assert README.count(BEGIN) == 1 and README.count(END) == 1  # the generated Results block
    assert README.index(BEGIN) < README.index(END)
    for page in (REPO / "README.md", *DOCS):
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if not target.startswith(("http://", "https://")):
                assert (page.parent / target).exists(), f"{page.name} links {target}"
    assert [p.name for p in DOCS if f"docs/{p.name}" not in README] == []  # every page linked


def test_one_number_for_the_digits_target_interval():
    """The docs' digits T is the one the digits recipe composes (issue 19: it read 20 and 80)."""
    from tests.helpers.configs import config

    t = config("method=dec", "dataset=digits").method.update_interval
    assert f"T = {t} iterations" in (REPO / "docs" / "dec.md").read_text()
    assert "T = 20" not in EVERY_PAGE
