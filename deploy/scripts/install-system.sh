#!/usr/bin/env bash
# Machine prerequisites of the local stack: Java 17 (Kafka, Cassandra), Maven (fetches their
# jars), redis-server, nginx (gateway mode's reverse proxy, in tests), Prometheus (`tidewire up
# --observe` and the test that every dashboard panel has data), Node.js + npm (the
# official socket.io-client in tests), Chromium (the browser tests drive it; test tools' own
# browser downloads are not reachable here), and Python's venv module (Debian ships its
# python3 without ensurepip).
# Installs what is missing with apt when we are root and apt exists; otherwise says what to do.
set -euo pipefail

missing=()
java17=no
for j in "${TIDEWIRE_JAVA:-}" "${JAVA_HOME:+$JAVA_HOME/bin/java}" /usr/lib/jvm/java-17-openjdk-*/bin/java "$(command -v java || true)"; do
  if [ -n "$j" ] && [ -x "$j" ] && "$j" -version 2>&1 | grep -q 'version "17'; then java17=yes; break; fi
done
[ "$java17" = yes ] || missing+=(openjdk-17-jre-headless)
command -v mvn >/dev/null || missing+=(maven)
command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
command -v chromium >/dev/null || missing+=(chromium)
# Gateway mode's reverse proxy (docs/gateway.md), run by its tests.
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
# Scrapes the stack under `tidewire up --observe` (docs/operations.md), and in its test.
command -v prometheus >/dev/null || [ -x /usr/bin/prometheus ] || missing+=(prometheus)
python="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
  version=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
  missing+=("python${version}-venv")
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "  all present"
  exit 0
fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "  installing with apt-get (a few minutes): ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  echo "  installed: ${missing[*]}"
  # Debian's prometheus package enables and starts a system prometheus.service listening on
  # every interface at :9090: `tidewire up --observe` runs its own, on 127.0.0.1 only.
  if [[ " ${missing[*]} " == *" prometheus "* ]] && command -v systemctl >/dev/null \
    && [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus >/dev/null 2>&1 || true
    echo "  stopped and disabled the system prometheus.service (tidewire runs its own)"
  fi
else
  echo "tidewire needs these system packages: ${missing[*]}" >&2
  echo "install them (Debian/Ubuntu: sudo apt-get install ${missing[*]}) and run make again" >&2
  exit 2
fi
