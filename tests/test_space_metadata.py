"""The README's front matter is the Space's configuration: uploading the repository must give a working Space."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def front_matter() -> dict[str, object]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.match(r"---\n(.*?)\n---\n", text, flags=re.DOTALL)
    assert match, "README.md must start with the Space's YAML front matter"
    data = yaml.safe_load(match.group(1))
    assert isinstance(data, dict)
    return data


def pinned(package: str) -> str:
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        match = re.fullmatch(rf"{package}(?:\[[a-z,]+\])?==([0-9][0-9a-z.]*)\s*(?:#.*)?", line.strip())
        if match:
            return match.group(1)
    raise AssertionError(f"{package} is not pinned in requirements.txt")


def test_the_space_runs_the_pinned_gradio_from_app_py() -> None:
    meta = front_matter()
    assert meta["sdk"] == "gradio"
    assert str(meta["sdk_version"]) == pinned("gradio")
    assert meta["app_file"] == "app.py" and (ROOT / "app.py").is_file()
    requires = re.search(r'requires-python\s*=\s*">=\s*([0-9.]+)"', (ROOT / "pyproject.toml").read_text())
    assert requires is not None
    assert tuple(map(int, str(meta["python_version"]).split("."))) >= tuple(map(int, requires.group(1).split(".")))


def test_sign_in_is_on_for_the_admin_check() -> None:
    meta = front_matter()
    assert meta["hf_oauth"] is True
    scopes = meta["hf_oauth_scopes"]
    assert isinstance(scopes, list)
    # space/admin.py reads the signed-in user's organisations (the `orgs` claim, or whoami with their token).
    assert {"openid", "profile"} <= set(scopes)


def test_the_card_describes_the_space() -> None:
    meta = front_matter()
    for key in ("title", "emoji", "short_description"):
        assert isinstance(meta.get(key), str) and meta[key]
    assert len(str(meta["short_description"])) <= 60  # the Hub's limit
    body = (ROOT / "README.md").read_text(encoding="utf-8").split("\n---\n", 1)[1]
    assert body.lstrip().startswith("# Crisis-safety leaderboard")
