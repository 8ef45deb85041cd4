"""No server detail reaches the page or the log (issue 10.8); hiding a model that does not
exist is refused (10.9).

- The page config names no host user and no home directory.
- A call whose values do not fit the event (too few, too many, of the wrong type), to the
  public `/leaderboard` or to an admin event with the admin token among the values, prints
  none of its values to the server's log: `python app.py` runs as a process of its own, so
  the log is everything it writes.
- The page's downloads (the filtered table as CSV, every result as Parquet) are links to the
  REST API, not Gradio file outputs: the page is handed no server path, not even Gradio's
  cache directory, and no event of the app returns a file. What the links serve names no
  server directory (temporary, data, home or working directory) and no host user.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import httpx
import pytest

from evaluator.storage import DataDir
from leaderboard.hidden import HiddenError, hide_model, read_hidden
from tests.space.conftest import REPO, Served, api_call, app_process, event_index, leaderboard_values, raw_call
from tests.support.results_factory import write_demo_board

TOKEN = "canary-admin-token-5b1e0c"  # the server's admin token
CANARY = "canary-input-93d7aa"
# The page's own first call of /leaderboard: every filter at its default.
DEFAULTS: list[Any] = leaderboard_values(columns=["harm_rate"], limit=25)


def host_names() -> set[str]:
    names = {os.environ.get("USER"), os.environ.get("LOGNAME")}
    with contextlib.suppress(Exception):  # no passwd entry in some containers
        names.add(getpass.getuser())
    return {n for n in names if n and len(n) >= 3 and n not in ("local", "root")}


def test_the_page_config_holds_no_host_user_name(served: Served) -> None:
    config = httpx.get(served.url + "config", timeout=30).text
    for name in host_names():
        assert f'"{name}"' not in config, name
    assert str(Path.home()) not in config


def test_calls_that_do_not_fit_print_none_of_their_values(tmp_path: Path) -> None:
    write_demo_board(DataDir.at(tmp_path / "var"))
    with app_process(tmp_path, {"CRISIS_ADMIN_TOKEN": TOKEN}) as app:
        url = app.url
        # Too few values; values no Number can read; values a Radio, CheckboxGroup, Dropdown or
        # Number refuses (not among its choices, under its minimum).
        misfits = [[CANARY], [*DEFAULTS[:6], CANARY]]
        for index, value in ((6, CANARY), (6, {"x": CANARY})):
            misfits.append([*DEFAULTS[:index], value, *DEFAULTS[index + 1 :]])
        refused = []
        for index, value in ((2, CANARY), (4, [CANARY]), (12, CANARY), (6, -5)):
            refused.append([*DEFAULTS[:index], value, *DEFAULTS[index + 1 :]])
        answers = [api_call(url, "leaderboard", values) for values in misfits]
        refusals = [api_call(url, "leaderboard", values) for values in refused]
        extra = api_call(url, "leaderboard", [*DEFAULTS, CANARY, CANARY])
        # The admin events are private, but the page config names them for the page's queue.
        approve, sign_in = event_index(url, "admin_approve"), event_index(url, "admin_sign_in")
        refresh = event_index(url, "admin_refresh")
        admin = [
            (raw_call(url, approve, [CANARY, "a reason", TOKEN]), False),  # the token, one value short
            (raw_call(url, sign_in, [TOKEN]), False),
            (raw_call(url, refresh, [CANARY, "", TOKEN, "ops", TOKEN, CANARY]), True),  # a maintainer's, with extras
        ]
        assert app.stop() == 0
        log = app.output()
    assert f"127.0.0.1:{url.rsplit(':', 1)[1].strip('/')}" in log  # the log is live: it names the address
    assert CANARY not in log and TOKEN not in log, log[-3000:]
    # The caller gets one line naming the event, not its values back ...
    for event, data in answers:
        message = json.loads(data)["error"] if event == "error" else data
        assert message.startswith("leaderboard takes 15 values") and CANARY not in message, message
    # ... or the component's own refusal, which is about the caller's own value, on one short line.
    for event, data in refusals:
        message = json.loads(data)["error"] if event == "error" else data
        assert event == "error" and len(message) <= 300 and "\n" not in message, message
    assert "less than minimum" in json.loads(refusals[-1][1])["error"]
    assert extra[0] == "complete"  # values beyond the inputs are dropped, as Gradio does
    for done, fits in admin:
        assert done["success"] is fits and TOKEN not in json.dumps(done)


def _server_paths(served: Served) -> set[str]:
    paths = {tempfile.gettempdir(), str(Path.home()), os.getcwd(), str(REPO), str(served.data.root)}
    paths.add(str(Path(served.demo.GRADIO_CACHE).resolve()))
    return {p for p in paths if p not in ("/", "")}


def _components(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["props"]["elem_id"]: c for c in config["components"] if c.get("props", {}).get("elem_id")}


def test_downloads_are_links_to_the_api_and_name_no_server_directory(served: Served) -> None:
    response = httpx.get(served.url + "config", timeout=30)
    config = response.json()
    links = {key: _components(config)[key]["props"]["link"] for key in ("download-csv", "download-parquet")}
    assert links["download-csv"].startswith("api/v1/leaderboard.csv")
    assert links["download-parquet"] == "api/v1/results.parquet"
    # No component of the page takes or returns a file: nothing Gradio would serve from its cache.
    assert not [c["type"] for c in config["components"] if c["type"] in ("file", "downloadbutton", "uploadbutton")]
    assert "gradio_api/file=" not in response.text
    for link in links.values():
        download = httpx.get(served.url + link, timeout=30)
        assert download.status_code == 200 and download.headers["content-disposition"].startswith("attachment;")
        seen = download.content + json.dumps(dict(download.headers)).encode()
        for where in _server_paths(served):
            assert where.encode() not in seen, where
        for user in host_names():
            assert user.encode() not in seen, user


def test_hiding_a_model_without_results_is_refused(tmp_path: Path) -> None:
    data = DataDir.at(tmp_path / "var")
    with pytest.raises(HiddenError, match="no model named org/typo has results"):
        hide_model(data, "org/typo", "misreported revision", known=["org/real"])
    assert read_hidden(data) == {}
    assert hide_model(data, "org/real", "misreported revision", known=["org/real"]).model == "org/real"
