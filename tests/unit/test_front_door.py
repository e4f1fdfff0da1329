"""The README is a short front door, and the repository stands on its own."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from docgen import cli_reference
from pgsched.cli import cli

REPOSITORY = Path(__file__).resolve().parents[2]
README = REPOSITORY / "README.md"
MAX_README_CHARACTERS = 12_000
LINK = re.compile(r"\]\(([^)\s]+)\)")
# What would point outside the repository at the material it was built from.
OUTSIDE = ("../shared", "shared/SPEC", "SPEC §")


def test_the_readme_is_a_front_door_not_a_manual() -> None:
    assert len(README.read_text(encoding="utf-8")) <= MAX_README_CHARACTERS


def test_every_link_of_the_readme_is_a_file_of_the_repository() -> None:
    for target in LINK.findall(README.read_text(encoding="utf-8")):
        path = target.split("#")[0]
        assert "://" not in target and not target.startswith(("/", "..")), target
        assert (REPOSITORY / path).exists(), target


def test_no_file_points_outside_the_repository() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=REPOSITORY, capture_output=True, text=True, check=True
    ).stdout.split()
    offending = []
    for name in tracked:
        path = REPOSITORY / name
        if path == Path(__file__) or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        offending += [f"{name}: {marker}" for marker in OUTSIDE if marker in text]
    assert not offending


def test_the_cli_reference_has_a_section_for_every_command() -> None:
    page = cli_reference.markdown()
    for path, _ in cli_reference.commands(cli, ["pgsched"]):
        assert f"`{' '.join(path[1:])}`" in page
        assert f"```text\n{' '.join(path)} " in page
