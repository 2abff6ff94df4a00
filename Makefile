# Convenience wrapper for people; meson + ninja do the real work.
#   make          build (build/)
#   make test     install dependencies, build with ASan+UBSan (build-test/), run every test
#   make demo     plexcp + three plexd nodes in network namespaces forming a mesh
#   make fuzz     run every fuzz harness for longer (FUZZ_SECONDS each)
BUILD      ?= build
TEST_BUILD ?= build-test
FUZZ_BUILD ?= build-fuzz
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_SECONDS ?= 300
PYTEST     ?= /usr/bin/python3 -m pytest

.PHONY: all deps build test unit fuzz-smoke fuzz e2e bench demo clean format

all: build

deps:
	@scripts/install-deps

build:
	@test -f $(BUILD)/build.ninja || meson setup $(BUILD) >/dev/null
	meson compile -C $(BUILD)

$(TEST_BUILD)/build.ninja:
	meson setup $(TEST_BUILD) -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true >/dev/null

unit: $(TEST_BUILD)/build.ninja
	meson compile -C $(TEST_BUILD)
	meson test -C $(TEST_BUILD) --suite unit --suite integration --print-errorlogs

$(FUZZ_BUILD)/build.ninja:
	CC=clang meson setup $(FUZZ_BUILD) -Dfuzz=true -Dtests=disabled -Db_sanitize=address,undefined -Db_lundef=false -Dwerror=true >/dev/null

fuzz-smoke: $(FUZZ_BUILD)/build.ninja
	meson compile -C $(FUZZ_BUILD)
	scripts/run-fuzz $(FUZZ_BUILD) $(FUZZ_SMOKE_SECONDS)

fuzz: deps $(FUZZ_BUILD)/build.ninja
	meson compile -C $(FUZZ_BUILD)
	scripts/run-fuzz $(FUZZ_BUILD) $(FUZZ_SECONDS)

e2e: $(TEST_BUILD)/build.ninja
	meson compile -C $(TEST_BUILD)
	PLEXD_BUILD=$(abspath $(TEST_BUILD)) $(PYTEST) -q tests/e2e

test: deps
	$(MAKE) unit
	$(MAKE) fuzz-smoke
	$(MAKE) e2e

bench: deps build
	PLEXD_BUILD=$(abspath $(BUILD)) bench/run-all

demo: deps build
	PLEXD_BUILD=$(abspath $(BUILD)) scripts/demo

format:
	find src tests -name '*.[ch]' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(TEST_BUILD) $(FUZZ_BUILD)
