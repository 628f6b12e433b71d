# Thin wrapper over CMake. `make` = release build in build/, `make run` starts
# the server with a generated var/wxscene.ini, `make test` = ASan+UBSan build
# in build-test/ and every test through ctest.
BUILD      ?= build
TESTBUILD  ?= build-test
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=
PREFIX     ?= /usr/local
DEBOUT     ?= build-deb

.PHONY: all deps build install deb run test bench fuzz format clean release-check

all: build

deps:
	@sh scripts/deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF \
	    -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_ARGS) >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# `make install PREFIX=/usr/local DESTDIR=/tmp/x`: binaries, units, docs.
install: build
	@DESTDIR=$(DESTDIR) cmake --install $(BUILD)

# `make deb`: the Debian package (release build, from a copy of the tree)
# into $(DEBOUT)/.
deb:
	@sh scripts/deps.sh
	@sh scripts/deps.sh --deb
	@sh scripts/deb.sh $(DEBOUT)

# `make release-check`: CMakeLists.txt, debian/changelog, CHANGELOG.md and
# the built binaries' --version state one version (before tagging vX.Y.Z).
release-check: build
	@sh scripts/release-check.sh $(BUILD)

run: build
	@sh scripts/run.sh $(BUILD)

test: deps
	@sh scripts/deps.sh --fuzz || echo "make test: clang/libFuzzer not installable; fuzz.short will skip" >&2
	@sh scripts/deps.sh --browser || echo "make test: chromium not installable; the dashboard test will skip" >&2
	@cmake -S . -B $(TESTBUILD) -DCMAKE_BUILD_TYPE=Debug -DWXSCENE_ASAN=ON -DWXSCENE_UBSAN=ON \
	    -DWXSCENE_WERROR=$(if $(CI),ON,OFF) -DBUILD_TESTING=ON $(CMAKE_ARGS) >/dev/null
	@cmake --build $(TESTBUILD) -j $(JOBS)
	@cd $(TESTBUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	@sh scripts/deps.sh --bench
	@bash bench/bench.sh $(BUILD)
	@bash bench/pg_bench.sh $(BUILD)

fuzz:
	@sh scripts/deps.sh --fuzz
	@bash fuzz/run.sh long

format:
	@clang-format -i src/*.c src/*.h tests/unit/*.c

clean:
	rm -rf $(BUILD) $(TESTBUILD) $(DEBOUT)
