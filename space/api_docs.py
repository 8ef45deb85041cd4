"""The REST API's interactive docs (/api/v1/docs), served whole by the app itself.

FastAPI's default docs page loads Swagger UI from a CDN, so it is blank offline, behind a
firewall that blocks the CDN, or when the CDN is down, and every visit tells a third party
who looked. Here the page's script, style sheet and icon come from the `swagger-ui-bundle`
package (requirements.txt) through one route that serves only the files the page names, and
Swagger UI's online spec validator (a call to an outside service) is switched off.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Final

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

DOCS_ROUTE: Final = "/docs"
ASSETS_ROUTE: Final = "/docs/assets"
# What the page loads, and their source maps (a browser's developer tools ask for these).
ASSETS: Final = frozenset(
    {
        "swagger-ui-bundle.js",
        "swagger-ui-bundle.js.map",
        "swagger-ui.css",
        "swagger-ui.css.map",
        "favicon-32x32.png",
    }
)
_MEDIA: Final = {".js": "text/javascript", ".css": "text/css", ".png": "image/png", ".map": "application/json"}


def assets_dir() -> Path:
    from swagger_ui_bundle import swagger_ui_path

    return Path(str(swagger_ui_path))


def docs_page(title: str, openapi_url: str, assets_url: str) -> str:
    """The docs page: every URL in it is one of this app's (relative to where it is mounted)."""
    config = {
        "url": openapi_url,
        "dom_id": "#swagger-ui",
        "layout": "BaseLayout",
        "deepLinking": True,
        "validatorUrl": None,  # the default posts the spec to an outside validator service
    }
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<link rel="stylesheet" href="{assets_url}/swagger-ui.css">
<link rel="icon" type="image/png" href="{assets_url}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{assets_url}/swagger-ui-bundle.js"></script>
<script>
const config = {json.dumps(config)};
config.presets = [SwaggerUIBundle.presets.apis];
window.ui = SwaggerUIBundle(config);
</script>
</body>
</html>
"""


def add_offline_docs(api: FastAPI) -> None:
    """The docs page and its assets on `api` (built with docs_url=None)."""
    folder = assets_dir()

    @api.get(DOCS_ROUTE, include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        # Where the API is mounted (/api/v1 on the Space), as FastAPI's own docs route does.
        root = str(request.scope.get("root_path", "")).rstrip("/")
        page = docs_page(f"{api.title} - docs", f"{root}{api.openapi_url}", f"{root}{ASSETS_ROUTE}")
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    @api.get(ASSETS_ROUTE + "/{name}", include_in_schema=False)
    async def asset(name: str) -> Response:
        if name not in ASSETS:
            return JSONResponse({"error": f"no docs asset {name[:80]!r}", "see": DOCS_ROUTE}, status_code=404)
        path = folder / name
        media = _MEDIA.get(path.suffix, "application/octet-stream")
        return FileResponse(path, media_type=media, headers={"Cache-Control": "public, max-age=86400"})


__all__ = ["ASSETS", "ASSETS_ROUTE", "DOCS_ROUTE", "add_offline_docs", "docs_page"]
