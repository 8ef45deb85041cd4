#!/usr/bin/env bash
# Browser tests drive Debian's Chromium (never a downloaded browser build). Install it when
# missing and we may (root with apt-get); otherwise say so: the browser tests then skip.
set -u
if [ -x /usr/bin/chromium ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium with apt-get for the browser tests..."
  if (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/tmp/chromium-install.log 2>&1; then
    exit 0
  fi
  echo "could not install chromium (see /tmp/chromium-install.log): browser tests will be skipped"
else
  echo "chromium is missing and cannot be installed here (needs root and apt-get): browser tests will be skipped"
fi
exit 0
