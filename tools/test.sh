#!/bin/sh
# Installs what is needed, builds rwith from scratch in build-test/ and runs the whole test
# suite (unit tests and integration tests against real redis-servers it starts itself).
# Extra arguments go to `meson setup`, e.g. -Db_sanitize=address,undefined.
set -eu
cd "$(dirname "$0")/.."
./tools/deps.sh
dir=${RWITH_BUILD_DIR:-build-test}
rm -rf "$dir"
meson setup "$dir" -Dwerror=true "$@"
ninja -C "$dir"
meson test -C "$dir" --print-errorlogs --num-processes 2
