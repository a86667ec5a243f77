#!/bin/sh
# The Debian package (debian/): dpkg-buildpackage -us -uc -b builds
# labwatch_<version>_<arch>.deb from a copy of the source tree; lintian
# finds no error; installing it on this machine creates the labwatch user,
# /var/lib/labwatch and /etc/labwatch with labwatchd.conf, installs the
# units (not enabled), the SQL migrations, the rules data and the man
# pages; the installed labwatchd --check-config accepts the installed
# configuration; purging removes the user and the directories again.
# Needs root and dpkg-buildpackage (CI runs as root); else it is skipped.
. "${top_srcdir:-$(dirname "$0")/..}/tests/lib.sh"
skip_if_listed deb

skip() { echo "SKIP: tests/deb.sh: $1"; exit 77; }
[ "$(id -u)" -eq 0 ] || skip "not root (dpkg -i needs it)"
command -v dpkg-buildpackage >/dev/null || skip "dpkg-buildpackage missing (dpkg-dev)"
command -v dh >/dev/null || skip "dh missing (debhelper)"
[ -f "$top_srcdir/debian/control" ] || skip "no debian/ in $top_srcdir"
# Never touch a real installation.
if dpkg-query -W -f='${Status}' labwatch 2>/dev/null | grep -q installed; then
	skip "the labwatch package is installed on this machine"
fi
getent passwd labwatch >/dev/null && skip "a labwatch user exists already"
[ -e /var/lib/labwatch ] && skip "/var/lib/labwatch exists already"
[ -e /etc/labwatch ] && skip "/etc/labwatch exists already"

start=$(date +%s)
installed=no
cleanup() {
	[ "$installed" = yes ] && dpkg --purge labwatch >/dev/null 2>&1
	rm -rf "$TMP"
}
trap cleanup EXIT

# 1. Build from a copy of the tree (no build directories, no VCS).
mkdir "$TMP/src"
tar -C "$top_srcdir" --exclude='./build*' --exclude=./.git \
    --exclude=./autom4te.cache --exclude=./config.status \
    --exclude=./config.log -cf - . | tar -C "$TMP/src" -xf -
unset MAKEFLAGS MFLAGS MAKELEVEL
version=$(dpkg-parsechangelog -l "$TMP/src/debian/changelog" -S Version)
arch=$(dpkg --print-architecture)
deb="$TMP/labwatch_${version}_${arch}.deb"
if (cd "$TMP/src" && dpkg-buildpackage -us -uc -b -j2) >"$TMP/build.log" 2>&1; then
	ok "dpkg-buildpackage -us -uc -b"
else
	not_ok "dpkg-buildpackage -us -uc -b" "$(tail -n 20 "$TMP/build.log")"
	done_testing
	exit 1
fi
check "it made labwatch_${version}_${arch}.deb" test -s "$deb"
built=$(date +%s)

# 2. lintian: no error (the warnings left are listed in README.md).
if command -v lintian >/dev/null; then
	lintian --no-tag-display-limit "$deb" >"$TMP/lintian.out" 2>&1
	if grep -q '^E:' "$TMP/lintian.out"; then
		not_ok "lintian finds no error" "$(grep '^E:' "$TMP/lintian.out")"
	else ok "lintian finds no error"; fi
	sed 's/^/lintian: /' "$TMP/lintian.out"
else
	echo "SKIP: lintian not installed (TEST_PACKAGES has it)"
fi

# 3. Install on this machine.
check "dpkg -i" dpkg -i "$deb"
installed=yes
check "the labwatch system user exists" sh -c \
    'uid=$(getent passwd labwatch | cut -d: -f3) && test "$uid" -lt 1000'
check "the labwatch group exists" getent group labwatch
check "/var/lib/labwatch: labwatch:labwatch 750" test \
    "$(stat -c '%U:%G %a' /var/lib/labwatch 2>&1)" = "labwatch:labwatch 750"
check "/etc/labwatch: root:labwatch 750" test \
    "$(stat -c '%U:%G %a' /etc/labwatch 2>&1)" = "root:labwatch 750"
check "labwatchd.conf is a conffile" sh -c \
    'dpkg-query -W -f="\${Conffiles}" labwatch | grep -q " /etc/labwatch/labwatchd.conf "'
/usr/sbin/labwatchd --check-config >"$TMP/cc.out" 2>&1
check "installed labwatchd --check-config accepts the installed config" \
    grep -qx "/etc/labwatch/labwatchd.conf: configuration is valid" "$TMP/cc.out"
check "labwatch --version is the package's" test \
    "$(/usr/bin/labwatch --version)" = "labwatch $version"
check "installed labwatch check finds the installed protocol" sh -c \
    '/usr/bin/labwatch check --help | grep -q /usr/share/labwatch/'
for f in /lib/systemd/system/labwatchd.service \
    /lib/systemd/system/labwatch-notify.service \
    /lib/systemd/system/labwatch-board.service \
    /usr/lib/sysusers.d/labwatch.conf /usr/lib/tmpfiles.d/labwatch.conf \
    /usr/share/labwatch/sql/001_schema.sql \
    /usr/share/labwatch/rules/ctcae-5.0.conf \
    /usr/share/labwatch/rules/protocols/nct04933669.conf \
    /usr/share/man/man1/labwatch.1.gz /usr/share/man/man8/labwatchd.8.gz \
    /usr/share/man/man5/labwatchd.conf.5.gz \
    /usr/share/man/man8/labwatch-notify.8.gz \
    /usr/share/man/man8/labwatch-board.8.gz \
    /usr/share/doc/labwatch/README.md; do
	check "installed $f" test -s "$f"
done
check "the SQL migrations are all there" test \
    "$(ls /usr/share/labwatch/sql/*.sql | wc -l)" -eq \
    "$(ls "$top_srcdir"/sql/*.sql | wc -l)"
check "the unit's ExecStart is the installed labwatchd" \
    grep -qx "ExecStart=/usr/sbin/labwatchd -f" /lib/systemd/system/labwatchd.service
check "units not enabled" sh -c \
    '! ls /etc/systemd/system/*.wants/labwatch* 2>/dev/null | grep -q .'

# 4. Purge: everything it made is gone.
check "dpkg --purge" dpkg --purge labwatch
installed=no
check "the labwatch user is gone" sh -c '! getent passwd labwatch'
check "the labwatch group is gone" sh -c '! getent group labwatch'
check "/var/lib/labwatch is gone" test ! -e /var/lib/labwatch
check "/etc/labwatch is gone" test ! -e /etc/labwatch
check "/usr/sbin/labwatchd is gone" test ! -e /usr/sbin/labwatchd
check "dpkg forgot the package" sh -c '! dpkg-query -W labwatch 2>/dev/null'
echo "tests/deb.sh: build $((built - start)) s, all $(($(date +%s) - start)) s"

done_testing
