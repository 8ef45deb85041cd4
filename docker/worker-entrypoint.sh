#!/bin/sh
# Worker arguments (`--store hub:ORG/PREFIX --until-idle`) go to `python -m evaluator worker`;
# a whole command (what Hugging Face Jobs send: `python -m evaluator worker ...`) runs as given.
set -e
case "${1:-}" in
    "" | -*) exec python -m evaluator worker "$@" ;;
    *) exec "$@" ;;
esac
