"""Write submissions/model_types.txt: the model types transformers loads without remote code.

The Space has no transformers, yet must refuse an architecture no worker can load, exactly
as the CLI does; so both read this shipped list. Run after upgrading transformers:

    .venv/bin/python scripts/refresh_model_types.py          # rewrite the list
    .venv/bin/python scripts/refresh_model_types.py --check  # exit 1 if it is out of date
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from submissions.validation import MODEL_TYPES_FILE, parse_model_types  # noqa: E402


def render() -> str:
    import transformers
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    lines = [
        "# Model types transformers loads without remote code (config.json's model_type).",
        f"# From transformers {transformers.__version__} by scripts/refresh_model_types.py; do not edit by hand.",
        *sorted(CONFIG_MAPPING_NAMES),
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the shipped list differs from transformers'")
    args = parser.parse_args()
    try:
        text = render()
    except ImportError:
        print("error: transformers is not installed here (pip install -r requirements-model.txt)", file=sys.stderr)
        return 2
    if args.check:
        shipped = MODEL_TYPES_FILE.read_text(encoding="utf-8") if MODEL_TYPES_FILE.is_file() else ""
        if parse_model_types(shipped) != parse_model_types(text):
            print(f"{MODEL_TYPES_FILE.relative_to(ROOT)} is out of date: run scripts/refresh_model_types.py")
            return 1
        return 0
    MODEL_TYPES_FILE.write_text(text, encoding="utf-8")
    print(f"wrote {len(parse_model_types(text))} model types to {MODEL_TYPES_FILE.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
