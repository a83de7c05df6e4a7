# upres: the two commands of the README's quick start are `make demo` and `make test`.
SWIFT ?= $(shell command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)
COLIN := data/samples/colin27/colin27_t1_1mm.nii.gz

.PHONY: all bootstrap build test demo bench clean

all: build

bootstrap:
	@bash scripts/bootstrap

build: bootstrap
	$(SWIFT) build -c release --product upres

# The test command (CI runs exactly this through .ci/run).
test: bootstrap
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# The main job on the sample data. Until reconstruction exists it checks the installation and
# the engine on Colin 27.
demo: build
	.build/release/upres --version
	.build/release/upres doctor

bench: bootstrap
	@bash scripts/bootstrap --bench
	$(SWIFT) build -c release --product upres-bench
	@bash bench/run

clean:
	$(SWIFT) package clean
