#!/usr/bin/env bash
# The commands the tests use besides Python: kcat (an independent Kafka client that reads what
# our connector wrote), promtool (checks deploy/prometheus) and Chromium (tests/browser drives it
# headless with Playwright). Installs what is missing, once:
#   kcat      from apt (Debian/Ubuntu), as root or with password-less sudo;
#   chromium  from apt too, with one font for legible screenshots (Playwright's own browser
#             download is not used: Debian's build is);
#   promtool  taken out of Debian's prometheus package into BIN_DIR (default .venv/bin), so no
#             Prometheus server gets installed or started on a developer's machine.
# When neither way works it prints one sentence saying what to install and exits 0: the tests
# that need the tool then skip (and fail under CI=true, which must run everything).
set -euo pipefail
bin_dir=${1:-.venv/bin}

have() { command -v "$1" >/dev/null 2>&1 || [ -x "$bin_dir/$1" ]; }
missing=()
have kcat || missing+=(kcat)
have promtool || missing+=(promtool)
have chromium || missing+=(chromium)
[ ${#missing[@]} -eq 0 ] && exit 0

give_up() {
  echo "Tests need ${missing[*]}, which could not be installed here ($1): install them yourself" \
       "(Debian/Ubuntu: \`apt-get install kcat prometheus chromium\`; macOS: \`brew install kcat prometheus\`" \
       "and Chromium)," \
       "until then the tests that use them are skipped."
  exit 0
}

command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || give_up "no apt-get"
if [ "$(id -u)" -eq 0 ]; then
  as_root() { "$@"; }
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
  as_root() { sudo -n "$@"; }
else
  give_up "not root and no password-less sudo"
fi

echo "installing the test tools: ${missing[*]}"
as_root apt-get update -qq || give_up "apt-get update failed"
if ! have kcat; then
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends kcat >/dev/null \
    || give_up "apt-get install kcat failed"
fi
if ! have chromium; then
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-liberation >/dev/null \
    || give_up "apt-get install chromium failed"
fi
if ! have promtool; then
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  # apt-get download needs no root; its warning about the _apt sandbox user is harmless.
  (cd "$work" && apt-get download -qq prometheus 2>/dev/null) || give_up "apt-get download prometheus failed"
  dpkg-deb -x "$work"/prometheus_*.deb "$work/root"
  mkdir -p "$bin_dir"
  install -m 0755 "$work/root/usr/bin/promtool" "$bin_dir/promtool"
fi
