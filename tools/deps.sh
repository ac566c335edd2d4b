#!/bin/sh
# Installs what building and testing rwith needs on Debian/Ubuntu: as root with apt-get,
# otherwise through sudo. Safe to run again; does nothing when everything is present.
# Arguments name further packages (tools/deb.sh's).
#
# Besides the build: redis-server and redis-tools (redis-cli) for the integration tests and
# the examples, python3 for the tests, scdoc for the man page, procps (ps, in the examples and
# the terminal tests), bash, dash and zsh (the shells --hold is tested in), util-linux (flock,
# setsid), bash-completion (the completion tests), openssl (the TLS tests' certificates).
set -eu
packages="build-essential meson ninja-build pkg-config python3 libhiredis-dev libuv1-dev
libcriterion-dev redis-server redis-tools scdoc util-linux procps bash dash bash-completion zsh
libssl-dev openssl ca-certificates $*"
missing=""
for p in $packages; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" -eq 0 ]; then
	as_root=""
elif command -v sudo >/dev/null 2>&1; then
	as_root="sudo"
else
	echo "deps.sh: need root or sudo to install:$missing" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$as_root apt-get update -q
# shellcheck disable=SC2086
$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing
# The package may start a system-wide redis-server; rwith's tests start their own.
