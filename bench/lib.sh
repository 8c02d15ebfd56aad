# bench/lib.sh: sourced by the bench scripts. A script fills pids (the
# processes it started), work (its scratch directory) and, once it made a
# database, dbname and pgurl; bench_cleanup, run on exit, stops the
# processes by PID, drops the database and removes the directory.
pids=()

bench_cleanup() {
	local p
	for p in "${pids[@]}"; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in "${pids[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	if [ -n "${dbname:-}" ]; then
		psql "$pgurl" -qAt -c "DROP DATABASE IF EXISTS $dbname WITH (FORCE)" >/dev/null 2>&1 || true
	fi
	rm -rf "${work:?}"
}
trap bench_cleanup EXIT
