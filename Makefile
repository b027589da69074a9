# cxpulse build, test and run targets. `make help` lists them.
GO       ?= go
FUZZTIME ?= 60s

.PHONY: help build test test-short lint fuzz demo bench soak
help:
	@echo "make demo        run everything in one process with synthetic traffic"
	@echo "make test        run every test (needs redis-server, redis-sentinel, kcat, chromium, prometheus, prometheus-alertmanager; .ci/run installs them)"
	@echo "make test-short  skip the slow tests"
	@echo "make lint        go vet and a gofmt check"
	@echo "make fuzz        fuzz the event decoder for FUZZTIME ($(FUZZTIME))"
	@echo "make build       build the binaries into bin/"
	@echo "make bench       end-to-end benchmark (bench/results.json) and micro-benchmarks"
	@echo "make soak        SOAK_DURATION (30m) of traffic with random faults; ends exact or halted loudly (not in CI)"

test:
	$(GO) test -count=1 -timeout 40m ./...

test-short:
	$(GO) test -short -count=1 ./...

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzDecode -fuzztime $(FUZZTIME) ./pkg/events

# Built with the flags of `make build` (so each reuses what the other
# built), then run in place of the shell, so that Ctrl-C stops it cleanly
# and make reports no error.
BUILDFLAGS := -trimpath
build:
	$(GO) build $(BUILDFLAGS) -o bin/ ./cmd/...
demo:
	$(GO) build $(BUILDFLAGS) -o bin/ ./cmd/demo
	exec ./bin/demo

# End to end, side by side: raw ceiling, decode ceiling, naive consumer and
# the aggregator on the same 1M events, then latency, kill -9 recovery and
# Redis bytes per scope; writes bench/results.json. Then the Go
# micro-benchmarks of the hot paths, and the history import beside kcat -P.
BENCH_EVENTS ?= 1000000
bench:
	$(GO) run ./cmd/bench -events $(BENCH_EVENTS) -out bench/results.json
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/events ./internal/store ./internal/plan ./internal/customers ./internal/importer

# Traffic for three tenants with random faults (aggregator SIGKILL and
# SIGSTOP, the broker unavailable, Redis SIGSTOP and restart, records
# deleted under the consumer, a clock step); not part of make test.
SOAK_DURATION ?= 30m
soak:
	SOAK_DURATION=$(SOAK_DURATION) $(GO) test -tags soak -count=1 -run TestSoak -timeout 90m -v ./internal/e2e
