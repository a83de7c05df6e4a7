# upres: the two commands of the README's quick start are `make demo` and `make test`.
SWIFT ?= $(shell command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)
COLIN := data/samples/colin27/colin27_t1_1mm.nii.gz
BRAIN := data/samples/colin27/colin27_t1_1mm_brain.nii.gz

.PHONY: all bootstrap build test demo demo-bids bench clean

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
# coronal scan of 4 mm slices every 5 mm (an acquisition no shipped model was trained on as such),
# reconstructed at 1 mm by the default mode (a network trained from scratch on the scan's own
# in-plane slices, slice thickness estimated from the scan) and by cubic interpolation on the same grid, both
# evaluated inside the brain and on the whole head against the original, and a sagittal snapshot.
demo: build
	@mkdir -p $(DEMO)
	.build/release/upres doctor
	.build/release/upres simulate $(COLIN) $(DEMO)/colin27_coronal-4-5.nii.gz --model slices --axis coronal --thickness 4 --slice-spacing 5 --force
	.build/release/upres upsample $(DEMO)/colin27_coronal-4-5.nii.gz $(DEMO)/colin27_sr.nii.gz --force
	.build/release/upres upsample $(DEMO)/colin27_coronal-4-5.nii.gz $(DEMO)/colin27_cubic.nii.gz --interp cubic --force
	.build/release/upres evaluate --reference $(COLIN) --test $(DEMO)/colin27_sr.nii.gz --test $(DEMO)/colin27_cubic.nii.gz --mask $(BRAIN) --resample --metrics psnr ssim mae
	.build/release/upres evaluate --reference $(COLIN) --test $(DEMO)/colin27_sr.nii.gz --test $(DEMO)/colin27_cubic.nii.gz --resample --metrics psnr ssim mae
	.build/release/upres snapshot $(COLIN) $(DEMO)/colin27_coronal-4-5.nii.gz $(DEMO)/colin27_cubic.nii.gz $(DEMO)/colin27_sr.nii.gz --plane sagittal -o $(DEMO)/sagittal.png --force
	@echo "demo: outputs in $(DEMO)/ (open sagittal.png; sidecars *.json record every setting)"

# The BIDS app on a demo dataset of 4 subjects made from the sample data, with its reports (~15 min).
demo-bids: build
	bash scripts/demo-bids

bench: bootstrap
	@bash scripts/bootstrap --bench
	$(SWIFT) build -c release --product upres-bench
	@bash bench/run

clean:
	$(SWIFT) package clean
