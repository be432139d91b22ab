#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian machine, then run it.
#   bash scripts/test.sh            # the README's test command (CI runs exactly this via .ci/run)
#   bash scripts/test.sh -k otlp    # extra arguments go to pytest
# Real components: Debian's prometheus (server + promtool), libpython3.11 (linked by the rotel collector),
# victoria-metrics and chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v promtool >/dev/null 2>&1 || need_apt+=(prometheus)
command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
ldconfig -p 2>/dev/null | grep -q 'libpython3.11.so.1.0' || need_apt+=(libpython3.11)
command -v victoria-metrics >/dev/null 2>&1 || need_apt+=(victoria-metrics)  # remote_write target (scale-out tests)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium fonts-dejavu-core) # headless browser (viewer tests)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== apt-get install ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "warning: cannot apt-get install ${need_apt[*]} (not root, or no apt): tests needing them skip outside CI" >&2
  fi
fi

echo "== pip install -e .[test]"
python3 -m pip install -q --disable-pip-version-check -e '.[test]'

echo "== ruff"
python3 -m ruff check lukhas_obs tests examples

echo "== pytest"
python3 -m pytest "$@"
