# callstatus — build, lab, tests, demo. `make help` lists the targets.
GO ?= go
# goami2 is only a benchmark peer and unknown to the checksum database.
export GONOSUMDB := github.com/staskobzar/goami2
export TESTCONTAINERS_RYUK_DISABLED := true

# The Asterisk lab image. ASTERISK_BASE is an image that may already hold
# Asterisk: the default is built locally with debootstrap (no registry
# needed); with a registry, `make asterisk-image ASTERISK_BASE=debian:sid-slim`.
ASTERISK_BASE  ?= callstatus/asterisk-base:sid
ASTERISK_IMAGE ?= callstatus/asterisk:lab
LAB_NAME       ?= callstatus-lab
export CALLSTATUS_ASTERISK_IMAGE := $(ASTERISK_IMAGE)

.PHONY: help build asterisk-base asterisk-image lab-up lab-down record test unit demo bench image

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

build: ## build bin/callstatusd and bin/callstatus-lab (static)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags='-s -w' -o bin/callstatusd ./cmd/callstatusd
	CGO_ENABLED=0 $(GO) build -trimpath -o bin/callstatus-lab ./cmd/callstatus-lab

# The demo's own container and ports, apart from `make lab-up` (5038/8088):
# Asterisk on random loopback ports, the daemon's NATS and HTTP as below.
DEMO_NATS_PORT ?= 4222
DEMO_HTTP      ?= 127.0.0.1:9180

demo: build asterisk-image ## the main job: Asterisk + callstatusd (embedded NATS), every scenario's calls, each status as published, a summary
	bin/callstatus-lab demo --daemon bin/callstatusd --config lab/callstatusd.lab.yaml \
		--container callstatus-demo --nats-port $(DEMO_NATS_PORT) --http $(DEMO_HTTP) $(if $(ONLY),--only $(ONLY))

DAEMON_IMAGE ?= callstatus/callstatusd:latest

image: build ## the daemon image (FROM scratch, the static bin/callstatusd; no registry needed)
	rm -rf bin/image && mkdir -p bin/image/rootfs/usr/local/bin bin/image/rootfs/etc/callstatusd bin/image/rootfs/var/lib/callstatusd
	cp bin/callstatusd bin/image/rootfs/usr/local/bin/
	-[ -f /etc/ssl/certs/ca-certificates.crt ] && mkdir -p bin/image/rootfs/etc/ssl/certs && cp /etc/ssl/certs/ca-certificates.crt bin/image/rootfs/etc/ssl/certs/
	docker build --pull=false -q -t $(DAEMON_IMAGE) -f docker/callstatusd/Dockerfile bin/image

asterisk-base: ## the Asterisk base image (debootstrap + docker import when missing)
	@if [ "$(ASTERISK_BASE)" = "callstatus/asterisk-base:sid" ]; then bash docker/asterisk/bootstrap-base.sh $(ASTERISK_BASE); fi

asterisk-image: asterisk-base ## the lab image: Asterisk 22 with asterisk-conf/
	docker build --pull=false -q --build-arg BASE=$(ASTERISK_BASE) -t $(ASTERISK_IMAGE) -f docker/asterisk/Dockerfile .

LAB_PG_PORT    ?= 5432
lab-up: asterisk-image ## start the lab Asterisk (AMI 127.0.0.1:5038, ARI 127.0.0.1:8088, CEL PostgreSQL 127.0.0.1:$(LAB_PG_PORT))
	-docker rm -f $(LAB_NAME) >/dev/null 2>&1
	docker run -d --name $(LAB_NAME) -p 127.0.0.1:5038:5038 -p 127.0.0.1:8088:8088 -p 127.0.0.1:$(LAB_PG_PORT):5432 $(ASTERISK_IMAGE) >/dev/null
	@for i in $$(seq 1 60); do docker exec $(LAB_NAME) asterisk -rx 'core show version' 2>/dev/null | grep -q 'Asterisk 22' && break; sleep 1; done
	docker exec $(LAB_NAME) asterisk -rx 'core show version'

lab-down: ## stop the lab Asterisk
	-docker rm -f $(LAB_NAME)

# ONLY=name1,name2 records a subset; the recordings are what the daemon's
# accounts (AMI and ARI user callstatus) see, one scenario at a time.
record: lab-up ## record every lab scenario into testdata/recordings (NAME.ami, NAME.ari.jsonl, NAME.manifest.json, NAME.cel.csv, NAME.queue_log)
	$(GO) run ./cmd/callstatus-lab record --out testdata/recordings --container $(LAB_NAME) $(if $(ONLY),--only $(ONLY))

unit: ## unit, golden and fuzz-seed tests (no Docker)
	$(GO) test -short ./...

# The packages that start Asterisk containers run one after the other (-p 1):
# each already runs its scenarios concurrently, and two at once on 2 cores
# only add load to tests that place real calls in real time.
DOCKER_PKGS := ./lab ./integration
# The packages with goroutines of their own, or that every status passes
# through, run under the race detector (about a minute more on 2 cores).
RACE_PKGS := ./adapter ./ami ./ari ./mapping
test: asterisk-image ## the whole suite: unit (-race where it counts) + integration against real Asterisk and embedded NATS
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m $(RACE_PKGS)
	$(GO) test -count=1 -timeout 20m $$($(GO) list ./... | grep -v -e /lab$$ -e /integration$$ $(foreach p,$(RACE_PKGS),-e /$(notdir $(p))$$))
	$(GO) test -count=1 -timeout 20m -p 1 $(DOCKER_PKGS)

# Benchmarks (issue 6): engine, AMI ingest against goami and goami2 (bench/peers
# is its own module), end to end, and callstatusd idle and at 2,000 open calls.
# Prints one table and writes BENCHMARKS.md; raw outputs go to BENCH_OUT.
BENCH_OUT    ?= /tmp/callstatus-bench
BENCH_COUNT  ?= 6
BENCH_ROUNDS ?= 6
BENCH_STEADY ?= 3
BENCHSTAT    ?= golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da
bench: build ## benchmarks: one table of medians, written to BENCHMARKS.md with machine and commands
	@rm -rf $(BENCH_OUT) && mkdir -p $(BENCH_OUT)
	@run() { echo "$$*" >> $(BENCH_OUT)/commands.txt; echo "+ $$*" >&2; bash -o pipefail -c "$$*"; }; \
	set -e; \
	run "$(GO) test -run '^\$$' -bench '^BenchmarkEngine' -benchtime 3x -count $(BENCH_COUNT) -cpu 1 ./bench/ | tee $(BENCH_OUT)/engine.txt"; \
	for i in $$(seq 1 $(BENCH_ROUNDS)); do \
	  run "cd bench/peers && $(GO) test -run '^\$$' -bench '^BenchmarkIngest' -benchtime 2x -count 1 . | tee -a $(BENCH_OUT)/ingest.txt"; \
	done; \
	run "$(GO) test -run '^\$$' -bench '^BenchmarkE2E\$$' -benchtime 1x -count $(BENCH_COUNT) -timeout 30m ./bench/ | tee $(BENCH_OUT)/e2e.txt"; \
	run "CALLSTATUSD_BIN=$(CURDIR)/bin/callstatusd $(GO) test -run '^\$$' -bench '^BenchmarkDaemonSteady\$$' -benchtime 1x -count $(BENCH_STEADY) -timeout 30m ./bench/ | tee $(BENCH_OUT)/steady.txt"
	@echo "cat engine.txt ingest.txt e2e.txt steady.txt > all.txt && $(GO) run $(BENCHSTAT) all.txt" >> $(BENCH_OUT)/commands.txt
	@cd $(BENCH_OUT) && cat engine.txt ingest.txt e2e.txt steady.txt > all.txt && $(GO) run $(BENCHSTAT) all.txt > benchstat.txt 2>/dev/null || echo "(benchstat unavailable: no module proxy?)" > benchstat.txt
	@$(GO) run ./bench/report -commands $(BENCH_OUT)/commands.txt -benchstat $(BENCH_OUT)/benchstat.txt -out BENCHMARKS.md $(BENCH_OUT)/engine.txt $(BENCH_OUT)/ingest.txt $(BENCH_OUT)/e2e.txt $(BENCH_OUT)/steady.txt
