#!/usr/bin/env bash
# envmon bootstrap: installs what the project needs on a fresh machine, then runs one job.
#   bash run.sh demo   - install, then run the demo pipeline end to end
#   bash run.sh test   - install (with test tools), then run the whole test suite
# Re-running skips the steps already done (the install is stamped with pyproject.toml's hash).
set -euo pipefail
cd "$(dirname "$0")"
job="${1:-}"
shift || true

here="$(pwd)"
venv="${ENVMON_VENV:-$here/.venv}"
python="${PYTHON:-python3}"

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
command -v mosquitto_sub >/dev/null 2>&1 || need_apt+=(mosquitto-clients)
if [ "$job" = test ]; then
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
  # a CJK font, so that the browser test's screenshots of the report show Chinese, not boxes
  (fc-list :lang=zh 2>/dev/null | grep -q .) || need_apt+=(fonts-wqy-zenhei)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "run.sh: installing Debian packages: ${need_apt[*]}"
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  # The Debian package starts a system broker on :1883; envmon runs its own.
  $sudo systemctl disable --now mosquitto >/dev/null 2>&1 || true
fi

extras="dev"
stamp="$venv/.envmon-installed"
want="$(sha256sum pyproject.toml | cut -c1-16)-$extras"
if [ ! -x "$venv/bin/python" ]; then
  echo "run.sh: creating virtual environment $venv"
  "$python" -m venv "$venv"
fi
if [ "$(cat "$stamp" 2>/dev/null || true)" != "$want" ]; then
  echo "run.sh: installing envmon and its dependencies (a few minutes the first time)"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q -e ".[$extras]"
  echo "$want" >"$stamp"
fi
export PATH="$venv/bin:$PATH"

case "$job" in
  demo) exec envmon demo "$@" ;;
  # pytest-xdist workers, each test file on one worker (its module fixtures are built once);
  # the files of the longest tests first (tests/conftest.py orders them, xdist keeps the order)
  test) exec python -m pytest -n "${ENVMON_TEST_WORKERS:-2}" --dist loadfile --no-loadscope-reorder "$@" ;;
  *) echo "usage: bash run.sh demo|test [args...]" >&2; exit 2 ;;
esac
