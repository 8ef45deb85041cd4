"""No server detail reaches the page (issue 10.8); hiding a model that does not exist is refused (10.9)."""

from __future__ import annotations

import contextlib
import getpass
import os
from pathlib import Path

import httpx
import pytest

from evaluator.storage import DataDir
from leaderboard.hidden import HiddenError, hide_model, read_hidden
from tests.space.conftest import Served


def test_the_page_config_holds_no_host_user_name(served: Served) -> None:
    config = httpx.get(served.url + "config", timeout=30).text
    names = {os.environ.get("USER"), os.environ.get("LOGNAME")}
    with contextlib.suppress(Exception):  # no passwd entry in some containers
        names.add(getpass.getuser())
    for name in {n for n in names if n and len(n) >= 3 and n not in ("local", "root")}:
        assert f'"{name}"' not in config, name
    assert str(Path.home()) not in config


def test_hiding_a_model_without_results_is_refused(tmp_path: Path) -> None:
    data = DataDir.at(tmp_path / "var")
    with pytest.raises(HiddenError, match="no model named org/typo has results"):
        hide_model(data, "org/typo", "misreported revision", known=["org/real"])
    assert read_hidden(data) == {}
    assert hide_model(data, "org/real", "misreported revision", known=["org/real"]).model == "org/real"
