#!/bin/sh
# Builds the Debian package rwith_VERSION_ARCH.deb from this tree (debian/, with debhelper and
# dpkg-buildpackage, in a copy, so the tree stays clean), puts it into DIR (default: the
# current directory) and checks it with lintian, which must report no error. Installs what it
# needs on Debian/Ubuntu, as tools/deps.sh does.
#   ./tools/deb.sh [DIR]    then:  sudo apt-get install ./rwith_*.deb
set -eu
out=$(realpath "${1:-.}")
cd "$(dirname "$0")/.."
./tools/deps.sh debhelper dpkg-dev lintian
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/rwith"
# The tree as it is, without version control and build directories.
tar -c --exclude-vcs --exclude='./build*' --exclude='./obj-*' --exclude='./debian/rwith' \
	--exclude='./debian/.debhelper' --exclude='./debian/files' . | tar -x -C "$work/rwith"
(cd "$work/rwith" && dpkg-buildpackage -b -us -uc)
for deb in "$work"/rwith_*.deb; do
	cp "$deb" "$out/"
	lintian --fail-on error "$out/$(basename "$deb")"
	echo "deb.sh: built $out/$(basename "$deb")"
done
