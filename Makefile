# The two commands of the README, and a few more. Everything builds out of tree in build/
# (plain -O2 with debug info) and build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer).
JOBS ?= 2
BUILD ?= build
CMAKE_FLAGS ?=

.PHONY: all deps build run test test-plain test-asan test-tsan bench install abi fuzz clean

all: build

deps:
	@scripts/deps.sh

build:
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_FLAGS) >/dev/null
	@cmake --build $(BUILD) -j$(JOBS)

# Builds, then starts the demo service in the foreground until Ctrl-C.
run: deps build
	@mkdir -p var/log
	@echo "examples/hello on 127.0.0.1:8080 (try: curl -i localhost:8080/hello; README lists more);"
	@echo "logging to stderr and var/log/hello.log; Ctrl-C drains and stops it"
	@$(BUILD)/examples/hello/hello --config-dir=examples/hello/config

# The whole suite in the -O2 build (gcc); under CI=true, again under ASan+UBSan built with
# clang, so CI also proves the code warning-free under both compilers, and the config
# concurrency test under ThreadSanitizer.
test: deps
	@$(MAKE) --no-print-directory test-plain
ifeq ($(CI),true)
	@$(MAKE) --no-print-directory test-asan
	@$(MAKE) --no-print-directory test-tsan
endif

test-plain: build
	@cd $(BUILD) && ctest --output-on-failure -j$(JOBS)

test-asan:
	@CC=clang CXX=clang++ cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPT_SANITIZE=ON \
	    -DPT_BUILD_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-asan -j$(JOBS)
	@cd build-asan && PT_SANITIZED=1 ctest --output-on-failure -j$(JOBS) -LE no-sanitizer

# The tests written for ThreadSanitizer (clang; gcc's TSan warns on atomic_thread_fence),
# built alone in build-tsan/ so the build stays small.
TSAN_TESTS ?= test_config_concurrency test_stats_wire test_health test_http_server test_http_stream \
    test_http_api test_app_run test_ctl test_ctl_app
tsan_empty :=
tsan_regex = ^($(subst $(tsan_empty) ,|,$(strip $(TSAN_TESTS))))$$
test-tsan:
	@CC=clang CXX=clang++ cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	    -DCMAKE_C_FLAGS="-fsanitize=thread -fno-omit-frame-pointer" \
	    -DCMAKE_EXE_LINKER_FLAGS=-fsanitize=thread -DPT_BUILD_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-tsan -j$(JOBS) --target $(TSAN_TESTS)
	@cd build-tsan && TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" PT_SANITIZED=1 \
	    ctest --output-on-failure -j$(JOBS) -R '$(tsan_regex)'

bench: deps build
	@scripts/bench.sh $(BUILD)

# Each libFuzzer target under fuzz/ for FUZZ_SECONDS (clang, ASan+UBSan). New inputs go to
# build-fuzz/corpus/fuzz_NAME; the seeds of fuzz/corpus/NAME, where there are some, are read too.
FUZZ_SECONDS ?= 60
fuzz: deps
	@CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPT_FUZZ=ON \
	    -DPT_BUILD_TESTS=OFF -DPT_BUILD_BENCH=OFF $(CMAKE_FLAGS) >/dev/null
	@cmake --build build-fuzz -j$(JOBS)
	@set -e; for t in build-fuzz/fuzz/fuzz_*; do \
	    name=$$(basename $$t); seeds=fuzz/corpus/$${name#fuzz_}; \
	    echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	    mkdir -p build-fuzz/corpus/$$name; \
	    $$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 build-fuzz/corpus/$$name \
	        $$(test -d $$seeds && echo $$seeds) 2>&1 | tail -4; \
	done

install: build
	@cmake --install $(BUILD) $(if $(PREFIX),--prefix $(PREFIX))

abi: build
	@scripts/abi-check.sh $(BUILD)

clean:
	rm -rf build build-asan build-tsan build-fuzz
