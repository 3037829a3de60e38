"""The README and .env.example document every setting the code reads."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from app.core.config import Settings

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = sorted(name.upper() for name in Settings.model_fields)


@pytest.mark.parametrize("name", SETTINGS)
def test_every_setting_is_in_env_example(name: str) -> None:
    text = (ROOT / ".env.example").read_text()
    assert re.search(rf"^#? ?{name}=", text, re.MULTILINE), f"{name} missing from .env.example"


@pytest.mark.parametrize("name", SETTINGS)
def test_every_setting_is_in_the_readme_table(name: str) -> None:
    table_rows = [
        line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("| `")
    ]
    assert any(f"`{name}`" in row for row in table_rows), f"{name} missing from README"


def test_env_example_names_only_real_settings() -> None:
    text = (ROOT / ".env.example").read_text()
    named = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", text, re.MULTILINE))
    assert named <= set(SETTINGS), named - set(SETTINGS)
