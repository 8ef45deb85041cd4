"""The Space entry point: `python app.py` (what `make run` and a Hugging Face Space run).

Serves the data directory in CRISIS_DATA (default ./var) on GRADIO_SERVER_NAME and
GRADIO_SERVER_PORT (default 127.0.0.1:7860).
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from evaluator.storage import DataDir
from space.app import build_app, launch


def main() -> None:
    data = DataDir.at(os.environ.get("CRISIS_DATA"))
    launch(build_app(data))


if __name__ == "__main__":
    main()
