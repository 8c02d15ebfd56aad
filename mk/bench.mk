# Side-by-side benchmark of the warm path against its peers (issue 12).

.PHONY: bench-peers
bench-peers: ## /fn/hello vs bare Go, nginx+Lua and nginx+PHP-FPM with wrk at c=1,16,64, 3 rounds, median table (installs nginx, libnginx-mod-http-lua, php-fpm, wrk if missing; BENCHMARKS.md)
	@bench/peers/peers.sh
