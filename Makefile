# The two commands of the README, and a few more. Everything builds out of tree in build/
# (plain -O2 with debug info) and build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer).
JOBS ?= 2
BUILD ?= build
CMAKE_FLAGS ?=

.PHONY: all deps build run test test-plain test-asan bench install abi fuzz clean

all: build

deps:
	@scripts/deps.sh

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# Builds, then starts the demo service in the foreground until Ctrl-C.
run: deps build
	@mkdir -p var/log
	@echo "examples/hello: logging to stderr and var/log/hello.log; Ctrl-C to stop"
	@$(BUILD)/examples/hello/hello

# The whole suite in the -O2 build (gcc); under CI=true, again under ASan+UBSan built with
# clang, so CI also proves the code warning-free under both compilers.
test: deps
	@$(MAKE) --no-print-directory test-plain
ifeq ($(CI),true)
	@$(MAKE) --no-print-directory test-asan
endif

test-plain: build
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

test-asan:
	@CC=clang CXX=clang++ cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPT_SANITIZE=ON \
	    -DPT_BUILD_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-asan -j$(JOBS)
	@cd build-asan && PT_SANITIZED=1 ctest --output-on-failure -j$(JOBS) -LE no-sanitizer

bench: deps build
	@scripts/bench.sh $(BUILD)

# Each libFuzzer target under fuzz/ for FUZZ_SECONDS (clang, ASan+UBSan).
FUZZ_SECONDS ?= 60
fuzz: deps
	@CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPT_FUZZ=ON \
	    -DPT_BUILD_TESTS=OFF -DPT_BUILD_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-fuzz -j$(JOBS)
	@set -e; for t in build-fuzz/fuzz/fuzz_*; do \
	    echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	    mkdir -p build-fuzz/corpus/$$(basename $$t); \
	    $$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 build-fuzz/corpus/$$(basename $$t) 2>&1 | tail -4; \
	done

install: build
	@cmake --install $(BUILD) $(if $(PREFIX),--prefix $(PREFIX))

abi: build
	@scripts/abi-check.sh $(BUILD)

clean:
	rm -rf build build-asan build-fuzz
