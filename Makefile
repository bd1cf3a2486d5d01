# The two commands a newcomer needs: `make run` and `make test`.
GO ?= go
BIN := bin

.PHONY: run build test fmt-check vet unit fuzz fuzz-long fuzz-keep-corpus amqp091-suite bench clean

# Flags for the broker: make run ARGS="--memory-limit 256MiB".
run: build
	./$(BIN)/sluice --data-dir ./data $(ARGS)

build:
	$(GO) build -o $(BIN)/sluice ./cmd/sluice
	$(GO) build -o $(BIN)/sluicectl ./cmd/sluicectl

# Everything CI checks.
test: fmt-check vet test-tools unit fuzz amqp091-suite

# The outside clients the conformance tests drive (AWS CLI, boto3,
# rabbitmqadmin): installed when missing (scripts/test-tools.sh).
.PHONY: test-tools
test-tools:
	./scripts/test-tools.sh

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

# The web UI's browser test (conformance/ui_test.go) needs Chromium: installed
# here first (Debian's package; nothing when it is there already).
# SLUICE_REQUIRE_TOOLS=1: a test whose outside client is missing fails
# instead of skipping.
unit:
	./scripts/install-chromium.sh
	PATH="$(CURDIR)/.cache/tools/bin:$$PATH" SLUICE_REQUIRE_TOOLS=1 $(GO) test -race -count=1 -timeout 600s ./...

fuzz:
	./scripts/fuzz-short.sh

# Every fuzz target for about one CPU-hour each; hours, not part of `make test`.
# FUZZ_CPU_TIME=1h FUZZ_PARALLEL=<CPUs> FUZZ_TARGETS=<regexp> (scripts/fuzz-long.sh).
fuzz-long:
	./scripts/fuzz-long.sh

# Copy the corpus a campaign grew into testdata, to commit with the code.
fuzz-keep-corpus:
	./scripts/fuzz-keep-corpus.sh

amqp091-suite:
	./scripts/amqp091-suite.sh

# sluice against RabbitMQ side by side (scripts/bench.sh; REPEAT=1 SCENARIOS="..." for a quick run).
# A benchmark, not a test: `make test` never runs it.
bench:
	./scripts/bench.sh

# What TLS costs: sluice and RabbitMQ over AMQPS (and plain AMQP) side by
# side, with handshakes per second (scripts/bench-tls.sh; REPEAT=1 DURATION=3s for a quick run).
.PHONY: bench-tls
bench-tls:
	./scripts/bench-tls.sh

# The SQS API: sluice and goaws (built from the module proxy) side by side with
# sluice-perf's SQS mode (scripts/bench-sqs.sh; REPEAT=1 DURATION=5s for a quick run).
.PHONY: bench-sqs
bench-sqs:
	./scripts/bench-sqs.sh

clean:
	rm -rf $(BIN)

# The torture test (torture/, issue #12): a seeded random workload against
# the broker process with kill -9 and restarts, checked against a model.
# make torture DURATION=1h [SEED=N] (or TORTURE_SEED=N in the environment);
# `make test` runs a short one (45 s) with the unit tests.
DURATION ?= 10m
.PHONY: torture
torture:
	$(if $(SEED),TORTURE_SEED=$(SEED)) $(GO) test -count=1 -run 'TestTorture$$' -timeout 0 -v ./torture -torture.duration=$(DURATION)
