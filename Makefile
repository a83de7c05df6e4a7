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
# The main job on the sample data: Colin 27 (never seen in training) simulated as a clinical
# 5 mm / 6 mm axial scan, reconstructed at 1 mm with the shipped model and with cubic
# interpolation on the same grid, both evaluated inside the brain against the original, and a
# coronal snapshot of the four.
demo: build
	@mkdir -p $(DEMO)
	.build/release/upres doctor
	.build/release/upres simulate $(COLIN) $(DEMO)/colin27_thick-5-6.nii.gz --preset thick-5-6 --force
	.build/release/upres upsample $(DEMO)/colin27_thick-5-6.nii.gz $(DEMO)/colin27_sr.nii.gz --model thick-5-6-t1 --force
	.build/release/upres upsample $(DEMO)/colin27_thick-5-6.nii.gz $(DEMO)/colin27_cubic.nii.gz --interp cubic --force
	.build/release/upres evaluate --reference $(COLIN) --test $(DEMO)/colin27_sr.nii.gz --test $(DEMO)/colin27_cubic.nii.gz --mask $(BRAIN) --resample --metrics psnr ssim mae
	.build/release/upres snapshot $(COLIN) $(DEMO)/colin27_thick-5-6.nii.gz $(DEMO)/colin27_cubic.nii.gz $(DEMO)/colin27_sr.nii.gz --plane coronal -o $(DEMO)/coronal.png --force
	@echo "demo: outputs in $(DEMO)/ (open coronal.png; sidecars *.json record every setting)"

bench: bootstrap
	@bash scripts/bootstrap --bench
	$(SWIFT) build -c release --product upres-bench
	@bash bench/run

clean:
	$(SWIFT) package clean
