# Thin wrapper over CMake; see README.md.
BUILD ?= build
JOBS  ?= $(shell nproc 2>/dev/null || echo 2)
DEMO  ?= plan eks/upgrade --sim examples/clusters/eks-1.20.yaml --set to=1.21

.PHONY: all deps build run test bench clean

all: build

# Installs the Debian packages the build needs when they are missing (root or sudo).
deps:
	@bash .ci/deps.sh

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

run: build
	$(BUILD)/refit $(DEMO)

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

bench: build
	cmake --build $(BUILD) --target bench

clean:
	rm -rf $(BUILD)
