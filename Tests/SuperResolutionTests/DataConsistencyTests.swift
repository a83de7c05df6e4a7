import Foundation
import Testing
@testable import Imaging
@testable import NN
@testable import SuperResolution
import Torch

@Suite struct DataConsistencyTests {
    /// A smooth volume (1 mm, 71 rows) acquired as 4 mm slices every 6 mm along its last axis:
    /// 12 slices centred on rows 2, 8, ..., 68. The 6x output grid's row j lies on row j - 1.
    func scan() throws -> (hr: Volume, lr: Volume) {
        let hr = try blobs([20, 22, 71], seed: 21)
        var scaled = hr
        scaled.data = try hr.data * 100 + 10
        let lr = try SliceAcquisition(direction: .voxelAxis(2), thickness: 4, spacing: 6, profile: .rectangular).apply(to: scaled)
        return (scaled, lr)
    }

    /// The output's slices, acquired again by hand: slice k of a 6x reconstruction is centred on
    /// output row 6k + 3 (`Reconstruction.outputGrid`), and a 4 mm box over 1 mm rows takes the
    /// rows 6k + 2 ... 6k + 4 whole and the two beyond them half.
    func reacquired(_ out: Tensor, slices: Int) throws -> Tensor {
        let rows = try (0..<slices).map { k -> Tensor in
            let c = 6 * k + 3
            var s = try out.select(2, c - 2) * 0.5 + out.select(2, c + 2) * 0.5
            for r in (c - 1)...(c + 1) { s = try s + out.select(2, r) }
            return try s * 0.25
        }
        return try Tensor.stack(rows, dim: 2)
    }

    /// The cubic baseline (a silenced model) made consistent: its slices acquired again (by hand)
    /// are the scan's to 0.2% of the intensity range (RMS), a fifth or less of the difference
    /// without it; and it comes closer to the truth.
    @Test func theOutputAcquiredAgainIsTheScan() throws {
        let (hr, lr) = try scan()
        #expect(lr.shape == [20, 22, 12])
        let model = try gridModel(silenced: true)
        var given = Reconstruction.Options(sliceThickness: 4)
        let made = try Reconstruction.run(lr, method: .pretrained(model), targetSpacing: 1, options: given)
        given.consistency = 0
        let plain = try Reconstruction.run(lr, method: .pretrained(model), targetSpacing: 1, options: given)
        #expect(plain.report.consistency == nil)
        let record = try #require(made.report.consistency)
        #expect(record.iterations == Reconstruction.defaultConsistencyIterations && record.sliceThickness == 4 && record.profile == .rectangular)
        #expect(record.residualAfter < 0.05 * record.residualBefore, "\(record)")
        let range = try lr.data.max().item() - lr.data.min().item()
        let scan = try lr.data.to(.float64)
        // RMS over the slices (the clamp at the scan's minimum, which thick slices raise above the
        // anatomy's, moves a few voxels between slices off the consistent solution).
        let after = try (reacquired(made.volume.data.to(.float64), slices: 12) - scan).square().mean().item().squareRoot() / range
        let before = try (reacquired(plain.volume.data.to(.float64), slices: 12) - scan).square().mean().item().squareRoot() / range
        #expect(after < 2e-3 && before > 5 * after, "slices acquired again: RMS \(before) of the range without, \(after) with; \(record)")
        // Closer to the truth, on the rows both grids share (output rows 1 ... 71 are hr's 0 ... 70).
        #expect(made.volume.shape == [20, 22, 72])
        let truth = try hr.data.to(.float64)
        let errorWith = try (made.volume.data.narrow(2, start: 1, length: 71).to(.float64) - truth).square().mean().item()
        let errorWithout = try (plain.volume.data.narrow(2, start: 1, length: 71).to(.float64) - truth).square().mean().item()
        #expect(errorWith < errorWithout, "MSE \(errorWithout) without, \(errorWith) with")
    }

    /// The truth itself is consistent: a reconstruction that is already right stays as it is.
    @Test func aConsistentVolumeIsAFixedPoint() throws {
        let (hr, lr) = try scan()
        // hr on the output grid: its row 0 again in front (output row 0, outside every slice).
        let rows = try Tensor.cat([hr.data.narrow(2, start: 0, length: 1), hr.data], dim: 2).to(.float32)
        let out = try rows.permute([2, 1, 0]).contiguous().permute([2, 1, 0])
        let before = try out.clone()
        let grid = Reconstruction.outputGrid(of: lr, axis: 2, factor: 6)
        let positions = try Reconstruction.slicePositions(of: lr, on: grid, axis: 2)
        let record = try Reconstruction.enforceConsistency(out, observed: lr.data, positions: positions, axis: 2, thickness: 4,
                                                           profile: .rectangular, outputSpacing: 1, iterations: 3)
        #expect(record.residualBefore < 1e-3, "\(record)")
        #expect(try (out - before).abs().max().item() < 1e-3)
    }

    /// A noisy scan's noise is not put back: the truth, against slices with Gaussian noise of
    /// sigma 2, is left as it is when sigma is known (the residual is at the noise level), and is
    /// pulled towards the noise when it is not.
    @Test func theScansNoiseIsNotPutBack() throws {
        let (hr, lr) = try scan()
        let noisy = try lr.data.to(.float32) + Tensor.randn(lr.shape, generator: Generator(seed: 3)).to(.float32) * 2
        let truth = try Tensor.cat([hr.data.narrow(2, start: 0, length: 1), hr.data], dim: 2).to(.float32)
        let grid = Reconstruction.outputGrid(of: lr, axis: 2, factor: 6)
        let positions = try Reconstruction.slicePositions(of: lr, on: grid, axis: 2)
        var errors: [Double] = []
        for noise in [2.0, 0.0] {
            let out = try truth.clone()
            let record = try Reconstruction.enforceConsistency(out, observed: noisy, positions: positions, axis: 2, thickness: 4,
                                                               profile: .rectangular, outputSpacing: 1, iterations: 3, noise: noise)
            errors.append(try (out - truth).square().mean().item())
            // The sample noise's RMS is 2 within about 1%: at most a tiny step.
            if noise > 0 { #expect(record.steps.allSatisfy { $0 < 0.05 } && abs(record.residualBefore - 2) < 0.1, "\(record)") }
            else { #expect(record.steps == [1, 1, 1], "\(record)") }
        }
        #expect(errors[0] < 0.01 * errors[1] && errors[1] > 0.5, "\(errors)")
    }

    /// A magnitude scan's background air: its noise is Rician (mean sigma sqrt(pi/2), power
    /// 2 sigma^2), so there a right output (0) differs from the scan by more than sigma. Measured
    /// in the head only (`headAbove`), the truth takes no step; measured everywhere, the air's
    /// excess power (a quarter of the volume is air) reads as an error and a step of about 0.2 is taken.
    @Test func backgroundAirDoesNotReadAsAnError() throws {
        let (hr, _) = try scan()
        // Columns 0 ... 4 (a quarter of the first axis) are air.
        let air = try Tensor((0..<20).map { Float($0 < 5 ? 0 : 1) }, shape: [20, 1, 1])
        var head = hr
        head.data = try hr.data.to(.float32) * air
        let lr = try SliceAcquisition(direction: .voxelAxis(2), thickness: 4, spacing: 6, profile: .rectangular).apply(to: head)
        let sigma = 2.0
        let g = try Generator(seed: 5)
        let real = try lr.data.to(.float32) + Tensor.randn(lr.shape, generator: g).to(.float32) * sigma
        let imaginary = try Tensor.randn(lr.shape, generator: g).to(.float32) * sigma
        let magnitude = try (real * real + imaginary * imaginary).sqrt()
        let truth = try Tensor.cat([head.data.narrow(2, start: 0, length: 1), head.data], dim: 2).to(.float32)
        let grid = Reconstruction.outputGrid(of: lr, axis: 2, factor: 6)
        let positions = try Reconstruction.slicePositions(of: lr, on: grid, axis: 2)
        var steps: [Double?] = []
        for level in [8.0, nil] {
            let out = try truth.clone()
            let record = try Reconstruction.enforceConsistency(out, observed: magnitude, positions: positions, axis: 2, thickness: 4,
                                                               profile: .rectangular, outputSpacing: 1, iterations: 1, noise: sigma,
                                                               headAbove: level)
            #expect(record.headAbove == level)
            steps.append(record.steps.first)
        }
        #expect((steps[0] ?? 0) < 0.05, "head only: \(steps)")
        #expect((steps[1] ?? 0) > 0.12, "everywhere: \(steps)")
    }

    /// What cannot be made consistent is refused before the model runs, naming what is missing.
    @Test func anUnknownAcquisitionIsRefused() throws {
        let (_, lr) = try scan()
        let url = try scratchFolder().appendingPathComponent("m.safetensors")
        let m = try EDSR(EDSRConfig(inChannels: 1, features: 4, blocks: 1, factor: 1), generator: Generator(seed: 1))
        try ModelFile.save(m, task: ModelTask(sliceSpacing: 6, targetSpacing: 1, sliceThickness: nil, contrast: "any", clipsIntensities: false,
                                              factors: [1.5, 8]), to: url)
        let file = try ModelFile.load(url)
        func message(_ options: Reconstruction.Options) -> String {
            do { _ = try Reconstruction.run(lr, method: .pretrained(file), targetSpacing: 1, options: options); return "" } catch { return "\(error)" }
        }
        #expect(message(.init(consistency: 2)).contains("data consistency needs the scan's slice thickness, and the model states none"))
        #expect(message(.init(consistency: -1)).contains("data consistency iterations -1 must be >= 0"))
        // Without a thickness and not asked for: no consistency, and the run goes through.
        let r = try Reconstruction.run(lr, method: .pretrained(file), targetSpacing: 1)
        #expect(r.report.consistency == nil)
        // Given the thickness, the model's own silence on it does not matter.
        #expect(try Reconstruction.run(lr, method: .pretrained(file), targetSpacing: 1, options: .init(sliceThickness: 4)).report.consistency != nil)
    }
}
