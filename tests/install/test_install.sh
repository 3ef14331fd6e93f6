#!/usr/bin/env bash
# test_install.sh BUILD_DIR - the installed library as a user sees it.
#
# Installs BUILD_DIR (cmake --install) into a DESTDIR under it, then, in a
# temporary folder outside the source tree, builds tests/install/example.c
# twice with nothing but the installed header and facekit.pc:
#   shared: cc example.c $(pkg-config --cflags --libs facekit), run with
#           LD_LIBRARY_PATH pointing into the DESTDIR;
#   static: the same with --static and -lfacekit read as -l:libfacekit.a
#           (with both libraries installed, -lfacekit picks the .so);
# and runs each on face-api's sample1/sample3 (verify + a gallery search).
# Also checks what libfacekit.so exports: the public API only (no fk__
# internal, no C++ symbol), and that the CLI, header, man page and .pc are
# where they belong. Skips (77) when the models are absent.
set -euo pipefail

build=${1:?usage: test_install.sh BUILD_DIR}
build=$(cd "$build" && pwd)
src=${FK_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
home=${FACEKIT_HOME:-$HOME/.facekit}
fails=0
check() { # check DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then echo "ok: $what"; else echo "FAIL: $what"; fails=$((fails + 1)); fi
}

prefix=/usr/local
destdir=$build/install-test
rm -rf "$destdir"
DESTDIR=$destdir cmake --install "$build" --prefix "$prefix" >"$build/install-test.log"
root=$destdir$prefix
libdir=$(dirname "$(find "$root" -name facekit.pc -path '*/pkgconfig/*' | head -n1)")
libdir=${libdir%/pkgconfig}

check "facekit.pc installed" test -f "$libdir/pkgconfig/facekit.pc"
check "libfacekit.a installed" test -f "$libdir/libfacekit.a"
check "libfacekit.so -> so.0 -> so.0.x.y" test -L "$libdir/libfacekit.so" -a -L "$libdir/libfacekit.so.0"
check "SONAME libfacekit.so.0" bash -c "readelf -d '$libdir/libfacekit.so' | grep -q 'SONAME.*\[libfacekit.so.0\]'"
check "header installed" test -f "$root/include/facekit.h"
check "CLI installed" test -x "$root/bin/facekit"
check "man page installed" test -s "$root/share/man/man1/facekit.1"
check "man page renders without warnings" bash -c \
  "! command -v man >/dev/null || [ -z \"\$(MANWIDTH=80 man --warnings -l '$root/share/man/man1/facekit.1' 2>&1 >/dev/null)\" ]"

# Exports: every public name is fk_<lowercase>, every internal fk__.
exports=$(nm -D --defined-only "$libdir/libfacekit.so" | awk '{print $3}' | sed 's/@.*//')
check "exports fk_verify and fk_gallery_search" bash -c \
  "grep -qx fk_verify <<<'$exports' && grep -qx fk_gallery_search <<<'$exports'"
bad=$(grep -v -e '^fk_[a-z]' -e '^FACEKIT_0$' <<<"$exports" || true)
check "no export outside the public API${bad:+: $(echo $bad | head -c 300)}" test -z "$bad"
internal=$(grep -c '^fk__' <<<"$exports" || true)
check "no fk__ export ($internal)" test "$internal" -eq 0
cxx=$(grep -c '^_Z' <<<"$exports" || true)
check "no C++ export ($cxx)" test "$cxx" -eq 0
public=$(grep -o '\bfk_[a-z][a-z0-9_]*(' "$root/include/facekit.h" | tr -d '(' | sort -u)
check "exports == the functions facekit.h declares" \
  diff <(echo "$public") <(grep '^fk_' <<<"$exports" | sort -u)

work=$(mktemp -d /tmp/fk-install-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp "$src/tests/install/example.c" "$work/"
cd "$work"
# The installed .pc names the real prefix; a copy with the prefix moved
# into the DESTDIR lets pkg-config resolve there (PKG_CONFIG_SYSROOT_DIR and
# --define-prefix would move the other modules' paths too).
check "facekit.pc's prefix is $prefix" grep -qx "prefix=$prefix" "$libdir/pkgconfig/facekit.pc"
mkdir -p "$work/pc"
sed "s|^prefix=.*|prefix=$root|" "$libdir/pkgconfig/facekit.pc" >"$work/pc/facekit.pc"
export PKG_CONFIG_PATH=$work/pc
pc() { pkg-config "$@" facekit; }
check "pkg-config resolves into the DESTDIR" bash -c "pkg-config --cflags --libs facekit | grep -q -- '-L$libdir'"
echo "shared: cc example.c $(pc --cflags --libs)"
check "shared build" cc -std=c11 -Wall -Wextra -Werror -o example-shared example.c $(pc --cflags --libs)
check "shared build needs libfacekit.so.0" bash -c "readelf -d example-shared | grep -q 'NEEDED.*libfacekit.so.0'"
static_libs=$(pc --libs --static | sed 's/-lfacekit\b/-l:libfacekit.a/')
echo "static: cc example.c $(pc --cflags) $static_libs"
check "static build" cc -std=c11 -Wall -Wextra -Werror -o example-static example.c $(pc --cflags) $static_libs
check "static build does not need libfacekit.so" bash -c "! readelf -d example-static | grep -q 'NEEDED.*libfacekit'"

if [ ! -f "$home/face-api/sample1.jpg" ] || [ ! -f "$home/face-api/sample3.jpg" ] ||
   [ ! -f "$home/face-api/face_recognition_model.bin" ]; then
  echo "SKIP: no models in $home (run 'facekit models fetch'); ${fails} build checks failed"
  [ "$fails" -eq 0 ] || exit 1
  exit 77
fi
s1=$home/face-api/sample1.jpg
s3=$home/face-api/sample3.jpg
check "shared program: verify + gallery search" \
  env LD_LIBRARY_PATH="$libdir" ./example-shared "$s1" "$s3" "$work/shared.db"
check "static program: verify + gallery search" ./example-static "$s1" "$s3" "$work/static.db"
check "the installed CLI runs" bash -c "'$root/bin/facekit' verify '$s1' '$s3' | grep -q '\"verified\": true'"

echo "$fails failed"
[ "$fails" -eq 0 ]
