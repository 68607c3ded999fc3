# Tether: the two commands a newcomer needs are `make demo` and `make test`.
# Every target installs what it needs first (idempotently).

SHELL := /bin/bash
BAZEL ?= bazel
DEPS := tools/install-deps.sh
FUZZ_SECONDS ?= 60
SOAK_MINUTES ?= 10

.PHONY: help deps build demo test test-sanitizers fuzz soak lint format bench clean

help:
	@echo "make demo             the local mesh demo (installs what is missing, builds, runs)"
	@echo "make test             every test (installs what is missing, builds, runs)"
	@echo "make build            build every binary"
	@echo "make test-sanitizers  the test suite under ASan, UBSan and TSan"
	@echo "make fuzz             every fuzz target for FUZZ_SECONDS (default 60) each"
	@echo "make soak             traffic and rotations for SOAK_MINUTES (default 10): flat memory, no failure"
	@echo "make lint             clang-format and clang-tidy over our code"
	@echo "make bench            Tether side by side with HAProxy, nginx and stunnel (~15 min)"

deps:
	@$(DEPS) build

build: deps
	@echo "==> building"
	@$(BAZEL) build //...

demo: deps
	@$(DEPS) mesh
	@echo "==> building"
	@$(BAZEL) build //proxy:tether-proxy //control/... //deploy/local/...
	@tools/demo.sh

test: deps
	@$(DEPS) mesh k8s bench
	@echo "==> running every test"
	@tools/run-tests.sh

test-sanitizers: deps
	@$(DEPS) mesh k8s bench
	@for c in asan ubsan tsan; do \
	  echo "==> tests under --config=$$c"; \
	  tools/run-tests.sh --config=$$c || exit 1; \
	done

fuzz: deps
	@tools/fuzz.sh $(FUZZ_SECONDS)

soak: deps
	@echo "==> soak: $(SOAK_MINUTES) minutes of traffic and certificate rotations"
	@$(BAZEL) test //tests/soak:soak_test --test_env=SOAK_MINUTES=$(SOAK_MINUTES) \
	  --test_timeout=$$(awk 'BEGIN { printf "%d", $(SOAK_MINUTES) * 60 + 600 }') \
	  --test_output=streamed --cache_test_results=no

bench: deps
	@tests/bench/run.sh

lint: deps
	@tools/lint.sh

format: deps
	@tools/lint.sh --fix

clean:
	@$(BAZEL) clean
