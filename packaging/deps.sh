#!/usr/bin/env bash
# Installs every build, run and test dependency of Stampede on Debian 12.
# Idempotent: checks what is there first and does nothing (quickly) when nothing is missing.
# Usage: packaging/deps.sh [--no-browser] [--no-bench]
set -euo pipefail

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
want_browser=1
want_bench=1
for a in "$@"; do
  case "$a" in
    --no-browser) want_browser=0 ;;
    --no-bench) want_bench=0 ;;
    -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
    *) echo "deps.sh: unknown option '$a'" >&2; exit 2 ;;
  esac
done

# Debian packages: build, run, test. tzdata: the time zones of schedules (/usr/share/zoneinfo);
# jq: the CI recipes of docs/ci.md, which tests/integration/ci_recipes.test.mjs runs.
pkgs=(gcc make cmake pkg-config git ca-certificates clang-format
      libmicrohttpd-dev libcurl4-openssl-dev libsqlite3-dev sqlite3 libjansson-dev
      libwebsockets-dev libssl-dev libsodium-dev libpcre2-dev curl procps tzdata jq
      libxml2-utils)  # xmllint: the tests validate the JUnit XML against tests/fixtures/junit.xsd
[ "$want_browser" = 1 ] && pkgs+=(chromium fonts-dejavu-core)
# linux-perf and strace: the benches' profiles and syscall counts (tests/bench/README.md).
[ "$want_bench" = 1 ] && pkgs+=(wrk nginx-light linux-perf strace)
# The Debian package (dpkg-shlibdeps) and the packaging tests (nginx with a throwaway certificate).
# tests/integration/http2 needs nginx's http_v2 module (built into Debian 12's nginx, which
# nginx-light pulls in) and libcurl with nghttp2 (libcurl4 depends on libnghttp2-14).
pkgs+=(dpkg-dev openssl nginx-light)
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
command -v npm >/dev/null 2>&1 || pkgs+=(npm)

missing=()
for p in "${pkgs[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$st" = installed ] || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "deps.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  echo "deps.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # One update per install; a stale or empty list is the usual reason a package "does not exist".
  $sudo apt-get update -qq >/dev/null || { echo "deps.sh: apt-get update failed" >&2; exit 1; }
  for p in "${missing[@]}"; do
    if ! apt-cache show "$p" >/dev/null 2>&1; then
      echo "deps.sh: package '$p' cannot be had from the configured Debian repositories" >&2
      exit 1
    fi
  done
  if ! $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/stampede-deps.log 2>&1; then
    tail -n 20 /tmp/stampede-deps.log >&2
    echo "deps.sh: apt-get install failed for: ${missing[*]} (log: /tmp/stampede-deps.log)" >&2
    exit 1
  fi
fi

# npm packages, pinned by lock files. Only where node_modules is missing or older than the lock.
while IFS= read -r lock; do
  dir=$(dirname "$lock")
  if [ ! -d "$dir/node_modules" ] || [ "$lock" -nt "$dir/node_modules/.package-lock.json" ]; then
    echo "deps.sh: npm ci in ${dir#"$top"/}"
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error) || {
      echo "deps.sh: npm ci failed in $dir" >&2; exit 1; }
  fi
done < <(find "$top" -name package-lock.json -not -path '*/node_modules/*' -not -path "$top/build*" 2>/dev/null)

exit 0
