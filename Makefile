# Entry points. `make dev` and `make test` work on a fresh Debian 12
# machine: each first installs the missing Debian packages.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
BUILD ?= build
TEST_BUILD ?= build-test
DEV_ARGS ?=

.PHONY: all build dev test test-build bench clean deps

all: build

deps:
	@./scripts/deps.sh build

build: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DST_TESTS=OFF >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

# Builds and runs a one-process devnet with every role until Ctrl-C.
dev: build
	./$(BUILD)/stratosd dev $(DEV_ARGS)

# The test build: clang with AddressSanitizer and UndefinedBehaviorSanitizer,
# plus the libFuzzer targets, which run for a few seconds each.
test-build:
	@./scripts/deps.sh test
	cmake -S . -B $(TEST_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=Debug \
	  -DST_SANITIZE=ON -DST_FUZZ=ON -DST_TESTS=ON >/dev/null
	cmake --build $(TEST_BUILD) -j $(JOBS)

test: test-build
	cd $(TEST_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest -j $(JOBS) --output-on-failure --timeout 600

bench: build
	@./scripts/deps.sh bench
	./bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(TEST_BUILD)
