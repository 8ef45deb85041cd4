"""The public REST API at /api/v1: plain FastAPI routes mounted on the Space's own server.

Gradio runs on FastAPI, so these routes share the page's process, store and view cache but
none of Gradio's per-call machinery (session state, queue, two requests per call): a query
costs what the filter, the sort and the JSON cost. OpenAPI docs are at /api/v1/docs. The
page's own download buttons are links to these routes (`/leaderboard.csv` with the page's
filters, `/results.parquet`), so a download is a plain GET and no file of the server's,
nor its path, is ever handed out.

Everything served comes from the public result rows of a `StoreSnapshot` (hidden models are
already left out there), never from run directories or item files: no item text, held-out
or public, is reachable from here. Names are returned as recorded (made one-line by
`plain_text`), with no Markdown escapes.

Every parameter is bounded before any work is done with it (limits below, one place); a bad
one is a 422 (or 400 for a value the view rejects) with a one-line message. Responses carry a
strong ETag derived from the snapshot version, the process and the request, so a client's
If-None-Match is answered 304 without building the body; JSON and CSV are gzipped when the
client accepts it. CORS is open to any origin, for GET and HEAD only, never with credentials
(`ApiCors`, outside Gradio's own CORS handling). The bodies, ETags, gzip, the bulk downloads'
cache and pace, and the routes' thread pool are in space.api_bulk.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Annotated, Any, Final
from urllib.parse import urlencode

import anyio
import pandas as pd
from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware

from evaluator.results import CONVERSATION, OVERALL, SINGLE_TURN
from leaderboard import limits
from leaderboard.boards import Board, board_mask
from leaderboard.export import ordered_rows, shown_table_csv
from leaderboard.links import plain_text
from leaderboard.model_page import model_detail
from leaderboard.query import (
    ALL_SIGNALS,
    COLUMN_BY_KEY,
    DEFAULT_COLUMNS,
    DEFAULT_LIMIT,
    Filters,
    Leaderboard,
    QueryError,
    filters_from,
)
from space.api_bulk import (
    BULK_BYTES_PER_S,
    ROUTE_LIMITER,
    Bulk,
    Egress,
    bulk_body,
    cell,
    gzip_etag,
    not_modified,
    offloaded,
    records,
    respond,
    strong_etag,
    to_json,
)
from space.api_docs import add_offline_docs
from space.api_items import add_items_route

API_PREFIX: Final = "/api/v1"
# Input bounds, the same as the page's (one place; the page's own inputs are not longer).
# The page's own bounds (leaderboard/limits.py), so the API accepts exactly what the page does.
MAX_SEARCH_CHARS: Final = limits.MAX_SEARCH_CHARS
MAX_SEARCH_TERMS: Final = limits.MAX_SEARCH_WORDS  # words over all alternatives
MAX_CHOICES: Final = limits.MAX_CHOICES  # entries of a list parameter (types, licenses, columns)
MAX_TEXT_CHARS: Final = limits.MAX_NAME_CHARS  # one board key, license, column key or model id
MAX_ROWS: Final = 100_000  # limit; 0 is every match
MAX_OFFSET: Final = 10_000_000
MAX_PERCENT: Final = 100.0
MAX_PARAMS_B: Final = 1e6
_MEDIA: Final = {
    "parquet": "application/vnd.apache.parquet",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}


_BOARD_QUERY: Final = Query(alias="board", description="one board's rows only (key from /boards)")


# Where a client finds the values a parameter accepts: every error names it ("see").
BOARDS_LISTED: Final = f"{API_PREFIX}/boards"
MODELS_LISTED: Final = f"{API_PREFIX}/leaderboard?limit=0"
PARAMETERS_LISTED: Final = f"{API_PREFIX}/docs"


class ApiError(Exception):
    def __init__(self, status: int, message: str, see: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message.splitlines()[0] if message else "bad request"
        self.see = see or (BOARDS_LISTED if "board" in self.message else PARAMETERS_LISTED)


def _error_body(message: str, see: str) -> dict[str, str]:
    return {"error": f"{message} (valid values: {see})", "see": see}


def _bounded(name: str, value: str | None, limit: int = MAX_TEXT_CHARS) -> str:
    if value is not None and len(value) > limit:
        raise ApiError(422, f"{name} is longer than {limit} characters")
    return value or ""


def _choices(name: str, values: list[str] | None) -> list[str]:
    out: list[str] = []
    for value in values or []:
        out += [v.strip() for v in value.split(",") if v.strip()]
    if len(out) > MAX_CHOICES:
        raise ApiError(422, f"{name} takes at most {MAX_CHOICES} values")
    for value in out:
        _bounded(name, value)
    return out


def _search(value: str | None) -> str:
    text = _bounded("search", value, MAX_SEARCH_CHARS)
    if len(text.replace(",", " ").replace(";", " ").split()) > MAX_SEARCH_TERMS:
        raise ApiError(422, f"search takes at most {MAX_SEARCH_TERMS} words")
    return text


def _board_json(board: Board, current: Board | None) -> dict[str, Any]:
    return {
        "key": board.key,
        "label": board.label,
        "set_name": board.set_name,
        "set_version": board.set_version,
        "judge": board.judge,
        "judge_prompt_hash": board.judge_prompt_hash or None,
        "protocol_version": board.protocol_version or None,
        "track": board.track,
        "official": board.official,
        "demo": board.demo,
        "latest_version": board.latest_version,
        "models": board.models,
        "ranked_models": board.ranked_models,
        "last_evaluated": None if board.last_evaluated is None else board.last_evaluated.isoformat(),
        "current": current is not None and board.key == current.key,
    }


async def _leaderboard_filters(
    board_key: Annotated[str | None, Query(alias="board", description="board key from /boards; empty: current")] = None,
    category: Annotated[str, Query(max_length=MAX_TEXT_CHARS, description="overall or a label")] = OVERALL,
    signal: Annotated[str, Query(max_length=MAX_TEXT_CHARS, description="all, explicit, indirect, ambiguous")] = (
        ALL_SIGNALS
    ),
    search: Annotated[str | None, Query(description="words must all match; ';' separates alternatives")] = None,
    model_type: Annotated[list[str] | None, Query(alias="type", description="open-weight, api")] = None,
    license_: Annotated[list[str] | None, Query(alias="license", description="license ids; unknown")] = None,
    params_min: Annotated[float | None, Query(ge=0, le=MAX_PARAMS_B, description="billions")] = None,
    params_max: Annotated[float | None, Query(ge=0, le=MAX_PARAMS_B, description="billions")] = None,
    harm_min: Annotated[float, Query(ge=0, le=MAX_PERCENT, description="percent")] = 0.0,
    harm_max: Annotated[float, Query(ge=0, le=MAX_PERCENT, description="percent")] = MAX_PERCENT,
    show_baselines: bool = True,
    columns: Annotated[list[str] | None, Query(description="column keys (comma-separated or repeated)")] = None,
    sort: Annotated[str, Query(max_length=MAX_TEXT_CHARS, description="column key; rank by default")] = "rank",
    descending: bool = False,
) -> Filters:
    """The page's filters from query parameters (shared by /leaderboard and /leaderboard.csv).
    A coroutine: it is only bounds checks, and needs no thread of its own."""
    try:
        return filters_from(
            board=_bounded("board", board_key),
            category=category,
            signal=signal,
            search=_search(search),
            model_types=_choices("type", model_type),
            licenses=_choices("license", license_),
            params_min=params_min,
            params_max=params_max,
            harm_min=harm_min,
            harm_max=harm_max,
            show_baselines=show_baselines,
            columns=_choices("columns", columns) if columns else list(DEFAULT_COLUMNS),
            sort_by=sort,
            descending=descending,
            limit=0,
        ).validated()
    except QueryError as exc:
        raise ApiError(400, str(exc)) from None


# PROTOCOL section 9: conversation results are on boards of their own; `track` picks that
# track's current board when no board is given, and must agree with a board that is.
_TRACK_QUERY: Final = Query(description="single_turn or conversation: that track's current board by default")


def _track_key(lb: Leaderboard, key: str, track: str | None) -> str:
    if track is None:
        return key
    if track not in (SINGLE_TURN, CONVERSATION):
        raise ApiError(400, f"track must be {SINGLE_TURN} or {CONVERSATION}", see=PARAMETERS_LISTED)
    boards = lb.boards()
    if key:
        named = next((b for b in boards if b.key == key), None)
        if named is not None and named.track != track:
            raise ApiError(400, f"that board is not a {track} board")
        return key
    found = next((b for b in boards if b.track == track), None)
    if found is None:
        raise ApiError(404, f"no {track} board has results yet")
    return found.key


def _track_filters(lb: Leaderboard, filters: Filters, track: str | None) -> Filters:
    from dataclasses import replace

    return replace(filters, board=_track_key(lb, filters.board, track)) if track is not None else filters


# Filters field -> its query parameter (the names `_leaderboard_filters` reads); limit is
# the route's own.
_PARAMETERS: Final = {
    "board": "board",
    "category": "category",
    "signal": "signal",
    "search": "search",
    "model_types": "type",
    "licenses": "license",
    "params_min": "params_min",
    "params_max": "params_max",
    "harm_min": "harm_min",
    "harm_max": "harm_max",
    "show_baselines": "show_baselines",
    "columns": "columns",
    "sort_by": "sort",
    "descending": "descending",
}
CSV_ROUTE: Final = "/leaderboard.csv"
PARQUET_ROUTE: Final = "/results.parquet"


def query_string(filters: Filters) -> str:
    """`filters` as /leaderboard (or /leaderboard.csv) query parameters: what
    `_leaderboard_filters` reads back into the same filters. Defaults are left out."""
    default = Filters()
    pairs: list[tuple[str, str]] = []
    for field, name in _PARAMETERS.items():
        value = getattr(filters, field)
        if value == getattr(default, field):
            continue
        if isinstance(value, tuple):
            pairs += [(name, str(v)) for v in value]
        elif isinstance(value, bool):
            pairs.append((name, "true" if value else "false"))
        else:
            pairs.append((name, str(value)))
    return urlencode(pairs)


def page_href(route: str, filters: Filters | None = None) -> str:
    """A link from the page to a route: relative, so it also works behind a proxy that
    serves the Space under a path."""
    query = query_string(filters) if filters is not None else ""
    return API_PREFIX.lstrip("/") + route + (f"?{query}" if query else "")


def _shown_csv(board: Leaderboard, filters: Filters) -> bytes:
    result = board.query(filters)
    display = board.display(result.rows, result.filters.columns)
    rows = result.rows
    models = rows["model"].tolist() if "model" in rows else []
    links = rows["hub_url"].tolist() if "hub_url" in rows else []
    return shown_table_csv(display, models, links).encode("utf-8")


def build_api(board: Leaderboard) -> FastAPI:
    """The /api/v1 application over one Leaderboard (mount it at API_PREFIX)."""
    api = FastAPI(
        title="Crisis-Safety Leaderboard API",
        version="1",
        description=(
            "Read-only access to the public leaderboard. Rates in `/leaderboard` rows are percent, rounded as "
            "the page shows them, and `rank` and the intervals are display text; beside them each row has "
            "`rank_best` and `rank_worst` (integers, null when not ranked), `ranked` (always a boolean) and "
            "`figures`: the same numbers as the bulk downloads hold them (rates as fractions in [0, 1], "
            "intervals as `_lo`/`_hi`; see docs/data.md). A board key (`board=`) is one of those `/boards` "
            "lists: `SET|VERSION|JUDGE|PROMPT_HASH|pPROTOCOL`, then `|TRACK` for a track other than single "
            "turns and `|demo` for the demo board. Every error body names where the valid values are "
            "listed (`see`)."
        ),
        docs_url=None,  # space.api_docs serves it with its assets, no CDN
        redoc_url=None,
        openapi_url="/openapi.json",
        default_response_class=JSONResponse,
    )
    api.add_middleware(
        CORSMiddleware, allow_origins=["*"], allow_methods=["GET"], allow_headers=["*"], expose_headers=["ETag"]
    )
    add_offline_docs(api)
    add_items_route(api, board)
    bulk = Bulk()
    egress = Egress(BULK_BYTES_PER_S)

    @api.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(_error_body(exc.message, exc.see), status_code=exc.status)

    @api.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or "request"
        message = str(first.get("msg", "invalid value")).splitlines()[0]
        see = BOARDS_LISTED if where == "board" else PARAMETERS_LISTED
        return JSONResponse(_error_body(f"{where}: {message}", see), status_code=422)

    @api.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # An unknown route: the docs list every route.
        message = str(exc.detail).splitlines()[0]
        return JSONResponse(_error_body(message, PARAMETERS_LISTED), status_code=exc.status_code)

    @api.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"error": "internal error"}, status_code=500)

    def pick(key: str) -> Board | None:
        try:
            return board.board(key)
        except QueryError as exc:
            raise ApiError(400, str(exc)) from None

    @api.get("/boards", summary="Boards: set versions x judges, with model counts")
    @offloaded
    def boards(request: Request) -> Response:
        snap = board.snapshot()

        def body() -> bytes:
            current, _ = board.current(snap)
            listed = board.boards(snap)
            return to_json(
                {
                    "current": current.key if current else None,
                    "boards": [_board_json(b, current) for b in listed],
                }
            )

        return respond(request, strong_etag("boards", snap.version), body, _MEDIA["json"], compress=True)

    @api.get("/leaderboard", summary="The leaderboard filtered and sorted as on the page: one row per model")
    @offloaded
    def leaderboard(
        request: Request,
        filters: Annotated[Filters, Depends(_leaderboard_filters)],
        track: Annotated[str | None, _TRACK_QUERY] = None,
        limit: Annotated[int, Query(ge=0, le=MAX_ROWS, description="rows returned; 0 for every match")] = DEFAULT_LIMIT,
        offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    ) -> Response:
        filters = _track_filters(board, filters, track)
        snap = board.snapshot()
        tag = strong_etag("leaderboard", snap.version, filters, limit, offset)

        def body() -> bytes:
            return to_json(_leaderboard_page(board, filters, limit, offset))

        try:
            return respond(request, tag, body, _MEDIA["json"], compress=True)
        except QueryError as exc:
            raise ApiError(400, str(exc)) from None

    @api.get(
        CSV_ROUTE,
        summary="The page's CSV download: every match, in order, the chosen columns and a Hub link",
    )
    @offloaded
    def leaderboard_csv(
        request: Request,
        filters: Annotated[Filters, Depends(_leaderboard_filters)],
        track: Annotated[str | None, _TRACK_QUERY] = None,
    ) -> Response:
        filters = _track_filters(board, filters, track)
        snap = board.snapshot()

        def body() -> bytes:
            return bulk.cached(("leaderboard.csv", snap.version, filters), lambda: _shown_csv(board, filters))

        try:
            response = respond(
                request, strong_etag("leaderboard.csv", snap.version, filters), body, _MEDIA["csv"], compress=True
            )
        except QueryError as exc:
            raise ApiError(400, str(exc)) from None
        response.headers["Content-Disposition"] = 'attachment; filename="leaderboard.csv"'
        return response

    @api.get("/models/{model:path}", summary="One model's figures on one board, as its model page shows them")
    @offloaded
    def model(
        request: Request,
        model: Annotated[str, Path(max_length=MAX_TEXT_CHARS, description="model id as recorded, e.g. org/name")],
        board_key: Annotated[str | None, Query(alias="board", description="board key; empty: current")] = None,
        track: Annotated[str | None, _TRACK_QUERY] = None,
    ) -> Response:
        chosen = pick(_track_key(board, _bounded("board", board_key), track))
        snap = board.snapshot()
        detail = model_detail(board, chosen, model) if chosen is not None else None
        if detail is None:
            raise ApiError(404, "no results for this model on this board", see=MODELS_LISTED)
        view = board.view(detail.board, snap=snap)
        best, worst = _rank_numbers(view[view["model"] == model])
        rows = board.board_rows(detail.board, snap)
        # The model's result rows on this board as the bulk files hold them (every category).
        result_rows = records(ordered_rows(rows[rows["model"] == model]))

        def body() -> bytes:
            return to_json(
                {
                    "model": plain_text(detail.model),
                    "board": detail.board.key,
                    "rank": detail.rank,
                    "rank_best": best[0] if best else None,
                    "rank_worst": worst[0] if worst else None,
                    "ranked": bool(best and best[0] is not None),
                    "hub_url": detail.hub_url,
                    "overall": _overall_json(detail.overall),
                    "per_category": records(detail.per_category),
                    "detection": records(detail.detection),
                    "confusion": None if detail.confusion is None else records(detail.confusion.reset_index()),
                    "refusal": records(detail.refusal),
                    "support": records(detail.support),
                    "metadata": records(detail.metadata),
                    "history": records(detail.history),
                    "result_rows": result_rows,
                }
            )

        return respond(
            request, strong_etag("model", snap.version, detail.board.key, model), body, _MEDIA["json"], compress=True
        )

    async def results(fmt: str, request: Request, board_key: str | None) -> Response:
        def prelude() -> tuple[Any, Board | None]:
            key = _bounded("board", board_key)
            return board.snapshot(), (pick(key) if key else None)

        # Looking up the snapshot may read the store: on the routes' pool, briefly.
        snap, chosen = await anyio.to_thread.run_sync(prelude, limiter=ROUTE_LIMITER)
        scope = chosen.key if chosen else ""
        etag = strong_etag("results", snap.version, scope, fmt)
        compress = fmt != "parquet"
        accepts_gzip = compress and "gzip" in request.headers.get("accept-encoding", "").lower()
        headers = {
            "ETag": etag,
            "Cache-Control": "public, max-age=0, must-revalidate",
            "Vary": "Accept-Encoding",
            "Content-Disposition": f'attachment; filename="results.{fmt}"',
        }
        unchanged = not_modified(request, etag, headers, gzipped=accepts_gzip)
        if unchanged is not None:
            return unchanged

        def build() -> bytes:
            frame = snap.results
            if chosen is not None:
                frame = frame[board_mask(frame, chosen)]
            return bulk_body(frame, fmt)

        body = await asyncio.wrap_future(bulk.get((snap.version, scope, fmt), build, compress=compress))
        content = body.raw
        if accepts_gzip and body.gzipped is not None:
            headers.update({"Content-Encoding": "gzip", "ETag": gzip_etag(etag)})
            content = body.gzipped
        headers["Content-Length"] = str(len(content))
        return StreamingResponse(egress.chunks(content), media_type=_MEDIA[fmt], headers=headers)

    @api.get(PARQUET_ROUTE, summary="Every public result row as Parquet (the contract's schema)")
    async def results_parquet(request: Request, board_key: Annotated[str | None, _BOARD_QUERY] = None) -> Response:
        return await results("parquet", request, board_key)

    @api.get("/results.csv", summary="Every public result row as CSV")
    async def results_csv(request: Request, board_key: Annotated[str | None, _BOARD_QUERY] = None) -> Response:
        return await results("csv", request, board_key)

    @api.get("/results.json", summary="Every public result row as a JSON array")
    async def results_json(request: Request, board_key: Annotated[str | None, _BOARD_QUERY] = None) -> Response:
        return await results("json", request, board_key)

    return api


def _leaderboard_page(board: Leaderboard, filters: Filters, limit: int, offset: int) -> dict[str, Any]:
    result = board.query(filters)
    if result.board is None:
        return {"board": None, "total": 0, "matched": 0, "offset": offset, "limit": limit, "rows": []}
    end = offset + limit if limit else None
    positions = result.order[offset:end]
    cells = board.display_cells(result.view, positions, filters.columns, markdown_models=False)
    keys = list(cells)
    rows = [dict(zip(keys, row, strict=True)) for row in zip(*(cells[k] for k in keys), strict=True)]
    page = result.view.iloc[positions]
    best, worst = _rank_numbers(page)
    figures = _figures(page, filters.columns)
    reasons = [cell(v) for v in page["not_ranked_reason"].tolist()]
    for row, low, high, numbers, reason in zip(rows, best, worst, figures, reasons, strict=True):
        # The numbers behind the display strings: rank bounds, and figures as the bulk files
        # hold them (rates as fractions in [0, 1], intervals as _lo/_hi).
        row.update(rank_best=low, rank_worst=high, ranked=low is not None, not_ranked_reason=reason)
        row["figures"] = numbers
    return {
        "board": result.board.key,
        "category": filters.category,
        "signal": filters.signal,
        "total": result.total,
        "matched": result.matched,
        "offset": offset,
        "limit": limit,
        "columns": {k: COLUMN_BY_KEY[k].label for k in filters.columns},
        "rows": rows,
    }


def _rank_numbers(view_rows: pd.DataFrame) -> tuple[list[int | None], list[int | None]]:
    """Best and worst rank per row as integers; None for a row not ranked (a baseline, a
    model shown but not ranked, a view without intervals)."""

    def ints(column: str) -> list[int | None]:
        return [None if v != v else int(v) for v in view_rows[column].tolist()]

    return ints("rank_best"), ints("rank_worst")


# Shown column kinds whose numbers the bulk files hold.
_FIGURE_KINDS: Final = frozenset({"rate", "ci", "level", "ratio", "count"})


def _figures(view_rows: pd.DataFrame, columns: tuple[str, ...]) -> list[dict[str, Any]]:
    """Per row, the headline harm rate and every shown figure under its result-row name, as
    the bulk files hold it, with its interval bounds where the view has them."""
    names: list[str] = []
    for key in ("harm_rate", *columns):
        column = COLUMN_BY_KEY[key]
        if column.kind not in _FIGURE_KINDS:
            continue
        source = column.source or key
        for name in (source, f"{source}_lo", f"{source}_hi"):
            if name in view_rows.columns and name not in names:
                names.append(name)
    values = [[cell(v) for v in view_rows[n].tolist()] for n in names]
    return [dict(zip(names, row, strict=True)) for row in zip(*values, strict=True)] if names else []


def _overall_json(overall: dict[str, Any]) -> dict[str, Any]:
    """The overall result row; `ranked` a boolean even on rows of writers before PROTOCOL
    version 2 (null there: nothing marked them not ranked)."""
    out = {k: cell(v) for k, v in overall.items()}
    if out:
        out["ranked"] = out.get("ranked") is not False
    return out


_ATTACHED: weakref.WeakKeyDictionary[Any, Leaderboard] = weakref.WeakKeyDictionary()


def attach(blocks: Any, board: Leaderboard) -> None:
    """Remember the Leaderboard a Gradio app shows, for `mount_api` once it is launched."""
    _ATTACHED[blocks] = board


# Request headers a cross-origin reader may send (If-None-Match is not on the browsers'
# CORS safelist, so a conditional GET from another site needs a preflight).
CORS_HEADERS: Final = frozenset({"if-none-match", "if-modified-since", "accept", "accept-language", "cache-control"})
CORS_METHODS: Final = ("GET", "HEAD")


class ApiCors:
    """CORS for /api/v1, outside Gradio's own CORS middleware.

    Gradio's answers every preflight itself (all methods, credentials allowed, and an origin
    only when it is localhost) and adds `Access-Control-Allow-Credentials: true` to every
    response; so a browser on another site could neither revalidate nor even read. The API
    is public and read-only: any origin, GET and HEAD, a few read headers, never credentials.
    Every other path is left to Gradio.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = str(scope.get("path", "")) if scope.get("type") == "http" else ""
        if not (path == API_PREFIX or path.startswith(API_PREFIX + "/")):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if "origin" not in headers:
            await self.app(scope, receive, send)
            return
        if scope.get("method") == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(headers, send)
            return

        async def send_open(message: Any) -> None:
            if message.get("type") == "http.response.start":
                kept = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if not k.lower().startswith(b"access-control-allow-")
                    and k.lower() != b"access-control-expose-headers"
                ]
                kept += [(b"access-control-allow-origin", b"*"), (b"access-control-expose-headers", b"ETag")]
                message = {**message, "headers": kept}
            await send(message)

        await self.app(scope, receive, send_open)

    @staticmethod
    async def _preflight(headers: dict[str, str], send: Any) -> None:
        method = headers["access-control-request-method"].strip().upper()
        asked = [h.strip().lower() for h in headers.get("access-control-request-headers", "").split(",") if h.strip()]
        allowed = method in CORS_METHODS and all(h in CORS_HEADERS for h in asked)
        out: list[tuple[bytes, bytes]] = [(b"vary", b"Origin"), (b"content-length", b"0")]
        if allowed:
            out += [
                (b"access-control-allow-origin", b"*"),
                (b"access-control-allow-methods", ", ".join(CORS_METHODS).encode()),
                (b"access-control-max-age", b"600"),
            ]
            if asked:
                out.append((b"access-control-allow-headers", ", ".join(asked).encode("latin-1")))
        await send({"type": "http.response.start", "status": 200 if allowed else 400, "headers": out})
        await send({"type": "http.response.body", "body": b""})


def mount_api(blocks: Any) -> None:
    """Mount the API on a launched Gradio app's FastAPI server (`blocks.app`)."""
    from starlette.middleware import Middleware

    board = _ATTACHED.get(blocks)
    app = getattr(blocks, "app", None)
    if board is None or app is None or getattr(app, "_crisis_api_mounted", False):
        return
    app.mount(API_PREFIX, build_api(board))
    # Outermost, ahead of Gradio's CORS middleware; the stack is rebuilt on the next request
    # (launch has already served Gradio's own start-up checks through the old one).
    app.user_middleware.insert(0, Middleware(ApiCors))
    app.middleware_stack = None
    app._crisis_api_mounted = True


__all__ = [
    "API_PREFIX",
    "CSV_ROUTE",
    "MAX_ROWS",
    "MAX_SEARCH_CHARS",
    "MAX_SEARCH_TERMS",
    "PARQUET_ROUTE",
    "ApiCors",
    "attach",
    "build_api",
    "mount_api",
    "page_href",
    "query_string",
]
