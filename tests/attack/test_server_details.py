"""No server detail reaches the page or the log (issue 10.8); hiding a model that does not
exist is refused (10.9).

- The page config names no host user and no home directory.
- A call whose values do not fit the event (too few, too many, of the wrong type), to the
  public `/leaderboard` or to an admin event with the admin token among the values, prints
  none of its values to the server's log: `python app.py` runs as a process of its own, so
  the log is everything it writes.
- A file output (the CSV and Parquet downloads) names no server directory but the one in
  Gradio's own file URL (Gradio's cache: <temp>/gradio/<content hash>/<public name>), and
  the file holds none: not the export directory, the data directory, the home directory or
  the working directory.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import re
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


def _file_output(served: Served, api_name: str, values: list[Any]) -> tuple[dict[str, Any], str]:
    done = raw_call(served.url, event_index(served.url, api_name), values)
    assert done["success"] is True, done
    text = json.dumps(done)
    value = done["output"]["data"][0]["value"]
    return value, text


def _server_paths(served: Served) -> set[str]:
    paths = {tempfile.gettempdir(), str(Path.home()), os.getcwd(), str(REPO), str(served.data.root)}
    paths |= {str(p) for p in Path(tempfile.gettempdir()).glob("leaderboard-export-*")}
    return {p for p in paths if p not in ("/", "")}


@pytest.mark.parametrize(("api_name", "values", "name"), [
    ("export_csv", DEFAULTS, r"leaderboard-[0-9a-f]{12}\.csv"),
    ("export_parquet", [], r"results-[\w.-]+\.parquet"),
])  # fmt: skip
def test_file_outputs_name_no_server_directory_but_gradios_file_url(
    served: Served, api_name: str, values: list[Any], name: str
) -> None:
    value, text = _file_output(served, api_name, values)
    cache = str(Path(served.demo.GRADIO_CACHE).resolve())
    path = value["path"]
    assert path.startswith(cache + "/") and re.fullmatch(rf"[0-9a-f]{{64}}/{name}", path[len(cache) + 1 :]), path
    assert value["url"] == f"{served.url}gradio_api/file={path}" and value["orig_name"] == Path(path).name
    rest = text.replace(value["url"], "").replace(path, "")
    body = httpx.get(value["url"], timeout=30).content
    for where in _server_paths(served):
        assert where not in rest, (where, rest)
        assert where.encode() not in body, where
    for user in host_names():
        assert user not in rest and user.encode() not in body, user
    assert "leaderboard-export" not in text and b"leaderboard-export" not in body


def test_hiding_a_model_without_results_is_refused(tmp_path: Path) -> None:
    data = DataDir.at(tmp_path / "var")
    with pytest.raises(HiddenError, match="no model named org/typo has results"):
        hide_model(data, "org/typo", "misreported revision", known=["org/real"])
    assert read_hidden(data) == {}
    assert hide_model(data, "org/real", "misreported revision", known=["org/real"]).model == "org/real"
