# scripts/lib.sh: what ./scripts/test and ./scripts/demo share.

log() { printf '==> %s\n' "$*"; }

# ensure_packages PKG...: install the Debian packages that are missing
# (apt-get as root; otherwise print the exact line and exit non-zero).
ensure_packages() {
	missing=""
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "missing packages; as root run:" >&2
		echo "  apt-get update && apt-get install -y$missing" >&2
		exit 1
	fi
	log "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null || {
		echo "apt-get install failed" >&2
		exit 1
	}
}

# tree_datadir DIR TOP: make DIR the data of the source tree TOP laid out
# as the installed $(datadir)/labwatch: DIR/rules -> TOP/rules/data and
# DIR/sql -> TOP/sql, by symbolic links, so that LABWATCH_DATADIR=DIR lets
# labwatch find the protocols (and migrations) of this tree.
tree_datadir() {
	mkdir -p "$1"
	ln -sfn "$2/rules/data" "$1/rules"
	ln -sfn "$2/sql" "$1/sql"
}

# What the build and the daemon need (curl: the demo reads /metrics).
RUN_PACKAGES="build-essential autoconf automake libtool pkg-config
	libevent-dev libssl-dev libpq-dev zlib1g-dev postgresql
	python3-hl7 openssl curl"
# What the tests need on top (curl: tests/daemon_metrics.sh, notify_db.sh;
# man-db: tests/man_pages.sh; debhelper, lintian: tests/deb.sh; chromium
# and a font for its text: tests/board_browser.sh, doc/screenshots.sh).
TEST_PACKAGES="libcriterion-dev clang libclang-rt-14-dev clang-format
	python3-cryptography curl python3-yaml man-db debhelper lintian
	chromium fonts-dejavu-core"
