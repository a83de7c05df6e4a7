# upres: the two commands of the README's quick start are `make demo` and `make test`.
SWIFT ?= $(shell command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)
COLIN := data/samples/colin27/colin27_t1_1mm.nii.gz
BRAIN := data/samples/colin27/colin27_t1_1mm_brain.nii.gz

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

DEMO := data/demo
# The main job on the sample data. Until the network reconstruction exists it checks the
# installation, then shows Colin 27 as a 6 mm thick-slice scan, reconstructs it with cubic and
# linear interpolation, evaluates both inside the brain against the original, and draws a snapshot.
demo: build
	@mkdir -p $(DEMO)
	.build/release/upres doctor
	.build/release/upres info $(COLIN)
	.build/release/upres resample $(COLIN) $(DEMO)/colin27_1x1x6mm.nii.gz --spacing 1 1 6 --force
	.build/release/upres resample $(DEMO)/colin27_1x1x6mm.nii.gz $(DEMO)/colin27_cubic_1mm.nii.gz --like $(COLIN) --interp cubic --force
	.build/release/upres resample $(DEMO)/colin27_1x1x6mm.nii.gz $(DEMO)/colin27_linear_1mm.nii.gz --like $(COLIN) --interp linear --force
	.build/release/upres evaluate --reference $(COLIN) --test $(DEMO)/colin27_cubic_1mm.nii.gz --test $(DEMO)/colin27_linear_1mm.nii.gz --mask $(BRAIN) --metrics psnr ssim mae
	.build/release/upres snapshot $(COLIN) $(DEMO)/colin27_1x1x6mm.nii.gz $(DEMO)/colin27_cubic_1mm.nii.gz --plane coronal -o $(DEMO)/coronal.png --force
	@echo "demo: outputs in $(DEMO)/ (open coronal.png)"

bench: bootstrap
	@bash scripts/bootstrap --bench
	$(SWIFT) build -c release --product upres-bench
	@bash bench/run

clean:
	$(SWIFT) package clean
