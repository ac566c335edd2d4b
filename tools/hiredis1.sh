#!/bin/sh
# Unpacks Debian 13's hiredis 1.x (library and headers, with TLS) into a private prefix, so
# that rwith can be built and tested against hiredis 1.x on a Debian 12 machine, whose own
# hiredis is 0.14. Reuses the mirror already configured in the machine's apt sources.
# Usage: tools/hiredis1.sh PREFIX    (prints the PKG_CONFIG_PATH to use)
set -eu
prefix=$(realpath -m "${1:?usage: hiredis1.sh PREFIX}")
if [ -f "$prefix/.done" ]; then
	echo "$prefix/usr/lib/pkgconfig"
	exit 0
fi
mirror=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n 1)
[ -n "$mirror" ] || mirror=$(grep -hs '^deb ' /etc/apt/sources.list | awk '{print $2}' | grep -v security | head -n 1)
[ -n "$mirror" ] || { echo "hiredis1.sh: no Debian mirror in the apt sources" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/archives/partial" "$prefix"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" >"$work/sources.list"
apt_opts="-o Dir::Etc::SourceList=$work/sources.list -o Dir::Etc::SourceParts=/dev/null
-o Dir::State::Lists=$work/lists -o Dir::Cache::Archives=$work/archives
-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o APT::Get::List-Cleanup=0"
# shellcheck disable=SC2086
apt-get -q $apt_opts update >&2
cd "$work"
# shellcheck disable=SC2086
apt-get -q $apt_opts download libhiredis1.1.0 libhiredis-dev >&2
for deb in ./*.deb; do
	dpkg -x "$deb" "$prefix"
done
# Point the .pc files at the private prefix; keep them in one predictable place.
mkdir -p "$prefix/usr/lib/pkgconfig"
for pc in "$prefix"/usr/lib/*/pkgconfig/hiredis*.pc; do
	libdir=$(dirname "$(dirname "$pc")")
	sed -e "s|^prefix=.*|prefix=$prefix/usr|" -e "s|^libdir=.*|libdir=$libdir|" \
		-e "s|^includedir=.*|includedir=$prefix/usr/include|" \
		-e "s|^pkgincludedir=.*|pkgincludedir=$prefix/usr/include/hiredis|" \
		"$pc" >"$prefix/usr/lib/pkgconfig/$(basename "$pc")"
done
touch "$prefix/.done"
echo "$prefix/usr/lib/pkgconfig"
