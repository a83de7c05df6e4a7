import Foundation
import Testing
@testable import Imaging
@testable import NN
@testable import SuperResolution
import Torch

private func phantom(_ shape: [Int], spacing: [Double] = [1, 1, 1], _ value: (Int, Int, Int) -> Double) throws -> Volume {
    var v = [Double]()
    for i in 0..<shape[0] { for j in 0..<shape[1] { for k in 0..<shape[2] { v.append(value(i, j, k)) } } }
    return Volume(data: try Tensor(v, shape: shape).to(.float32), affine: .scaling(spacing))
}

private let tinyModel = EDSRConfig(inChannels: 3, outChannels: 1, features: 4, blocks: 1, residualScale: 0.1, factor: 3, upsampleFeatures: 2)
private let tinyTask = ModelTask(sliceSpacing: 3, targetSpacing: 1, sliceThickness: 3)

@Suite struct EDSRTests {
    @Test func shapesAndPyTorchNames() throws {
        let m = try EDSR(EDSRConfig(), generator: Generator(seed: 1))
        let y = try withNoGrad { try m(Tensor.rand([2, 3, 5, 7])) }
        #expect(y.shape == [2, 1, 30, 7])
        #expect(m.namedTensors().map(\.0).prefix(6) == ["head.weight", "head.bias", "body.0.conv1.weight", "body.0.conv1.bias",
                                                         "body.0.conv2.weight", "body.0.conv2.bias"])
        #expect(m.namedTensors().map(\.0).suffix(6) == ["body_conv.weight", "body_conv.bias", "upsample.weight", "upsample.bias",
                                                         "tail.weight", "tail.bias"])
        #expect(m.parameterCount == 135_065)
        let refine = try EDSR(EDSRConfig(factor: 1), generator: Generator(seed: 1))
        #expect(try withNoGrad { try refine(Tensor.rand([1, 3, 12, 9])) }.shape == [1, 1, 12, 9])
        #expect(throws: NNError.self) { try EDSR(EDSRConfig(inChannels: 2)) }
        #expect(throws: NNError.self) { try m(Tensor.rand([1, 5, 4, 4])) }
    }

    @Test func theBaseIsLinearInterpolationAtTheOutputRows() throws {
        // With the residual branch silenced, the output is the centre channel interpolated at
        // rows k + (r - floor(f/2)) / f: the acquired rows come back exactly.
        let m = try EDSR(EDSRConfig(features: 4, blocks: 1, factor: 6, upsampleFeatures: 2))
        try withNoGrad { _ = try m.tail.weight.zero_(); _ = try m.tail.bias!.zero_() }
        let x = try Tensor([0.0, 6, 12, 0, 6, 12, 0, 6, 12], shape: [1, 3, 3, 1]).to(.float32)
        let y = try withNoGrad { try m(x) }.flatten().to(.float64).toArray(Double.self)
        // Rows 0..17 at LR positions (j/6 + (j%6 - 3)/6) clamped to [0, 2]: values 6 x position.
        let expected = (0..<18).map { j -> Double in 6 * min(max(Double(j / 6) + Double(j % 6 - 3) / 6, 0), 2) }
        for (a, b) in zip(y, expected) { #expect(abs(a - b) < 1e-5) }
    }

    @Test func modelFilesRoundTripAndBadFilesFailClearly() throws {
        let dir = try scratchFolder()
        let m = try EDSR(tinyModel, generator: Generator(seed: 2))
        let url = dir.appendingPathComponent("m.safetensors")
        try ModelFile.save(m, task: tinyTask, to: url)
        let loaded = try ModelFile.load(url)
        #expect(loaded.spec == ModelSpec(tinyModel) && loaded.task == tinyTask && loaded.sha256.count == 64)
        let x = try Tensor.rand([1, 3, 4, 5])
        #expect(try (withNoGrad { try loaded.model(x) } - withNoGrad { try m(x) }).abs().max().item() == 0)
        // Missing, corrupt, foreign and mismatched files.
        func message(_ u: URL) -> String { do { _ = try ModelFile.load(u); return "" } catch { return "\(error)" } }
        #expect(message(dir.appendingPathComponent("none.safetensors")).contains("no such model file"))
        let corrupt = dir.appendingPathComponent("corrupt.safetensors")
        try Data([1, 2, 3, 4]).write(to: corrupt)
        #expect(message(corrupt).contains("not a valid safetensors model"))
        let foreign = dir.appendingPathComponent("foreign.safetensors")
        try Safetensors.write([("w", try Tensor([1.0]))], to: foreign)
        #expect(message(foreign).contains("no upres.config"))
        // Weights for another number of channels: names and shapes are checked.
        var other = tinyModel
        other.inChannels = 5
        let wrong = dir.appendingPathComponent("wrong.safetensors")
        try Safetensors.write(try EDSR(other).namedTensors(), metadata: [
            "upres.config": String(decoding: try JSONEncoder().encode(tinyModel), as: UTF8.self),
            "upres.task": String(decoding: try JSONEncoder().encode(tinyTask), as: UTF8.self)], to: wrong)
        #expect(message(wrong).contains("head.weight has shape [4, 5, 3, 3], expected [4, 3, 3, 3]"))
    }
}

@Suite struct TrainingTests {
    func config(steps: Int) -> TrainConfig {
        var data = DataConfig(variants: 1, directions: [2], thickness: 3, thicknessJitter: 0.2, patchWidth: 8, patchRows: 4,
                              validationPatches: 4)
        data.noise = 0.01
        return TrainConfig(model: ModelSpec(tinyModel), task: tinyTask, data: data, seed: 3, steps: steps, batchSize: 2, learningRate: 1e-3,
                           schedule: .cosineWarmRestarts(t0: 4, tMult: 2, etaMin: 0), warmupSteps: 2, logEvery: 1, validateEvery: 3,
                           checkpointEvery: 3)
    }

    func stacks() throws -> (train: [TrainingStack], validation: [TrainingStack]) {
        let hr = try phantom([12, 14, 30]) { i, j, k in Double((i * 7 + j * 3 + k * 5) % 11) * 10 + 20 }
        let s = try StackBuilder.simulate(hr: hr, name: "phantom", config: config(steps: 1).data, task: tinyTask, factor: 3, seed: 4)
        return (s, s)
    }

    @Test func stacksAlignHRRowsWithTheOutputRows() throws {
        // A volume that is a ramp along the slice axis: LR slice k (rectangular, centred at c_k)
        // equals c_k, and HR row 3k + r holds c_k + r - 1.
        let hr = try phantom([10, 10, 30]) { _, _, k in Double(k) }
        var data = DataConfig(variants: 1, directions: [2], thickness: 3, thicknessJitter: 0)
        data.simulateBias = false
        data.simulateNoise = false
        let stacks = try StackBuilder.simulate(hr: hr, name: "ramp", config: data, task: tinyTask, factor: 3, seed: 1)
        let s = try #require(stacks.first)
        // Undo the normalization through the LR/HR relation: HR rows minus LR rows repeated.
        let lr = try s.lr.select(0, 5).select(0, 5).to(.float64).toArray(Double.self)
        let rows = try s.hr.select(0, 5).select(0, 5).to(.float64).toArray(Double.self)
        #expect(rows.count == 3 * lr.count)
        let step = rows[1] - rows[0]
        for k in 0..<lr.count {
            #expect(abs(rows[3 * k + 1] - lr[k]) < 1e-4, "row \(3 * k + 1) is slice \(k)'s centre")
            #expect(abs(rows[3 * k] - (lr[k] - step)) < 1e-4 && abs(rows[3 * k + 2] - (lr[k] + step)) < 1e-4)
        }
    }

    @Test func pairedStacksTakeHRRowsAtTheLRSliceCentres() throws {
        // A ramp along k simulated as a dataset pair would be (3 mm slices every 3 mm, native grid).
        let hr = try phantom([10, 10, 31]) { _, _, k in Double(k) }
        let acq = SliceAcquisition(direction: .voxelAxis(2), thickness: 3, spacing: 3, profile: .rectangular)
        let lr = try hr.simulated(SimulationSettings(model: .slices(acq))).lowResolution
        let s = try StackBuilder.paired(hr: hr, lr: lr, name: "ramp", task: tinyTask, factor: 3)
        let lrRow = try s.lr.select(0, 4).select(0, 6).to(.float64).toArray(Double.self)
        let hrRows = try s.hr.select(0, 4).select(0, 6).to(.float64).toArray(Double.self)
        #expect(hrRows.count == 3 * lrRow.count && lrRow.count >= 9)
        let step = hrRows[1] - hrRows[0]
        for k in 0..<lrRow.count {
            #expect(abs(hrRows[3 * k + 1] - lrRow[k]) < 1e-4 && abs(hrRows[3 * k] - (lrRow[k] - step)) < 1e-4)
        }
        // Slice centres half-way between HR voxels: rows by linear interpolation (the ramp's value there).
        var shifted = lr
        shifted.affine = lr.affine * Affine.scaling([1, 1, 1], translation: [0, 0, 0.5 / 3])
        let h = try StackBuilder.paired(hr: hr, lr: shifted, name: "shifted", task: tinyTask, factor: 3)
        let rows = try h.hr.select(0, 4).select(0, 6).to(.float64).toArray(Double.self)
        #expect(rows.count >= 27)
        for r in rows {
            // Every row lies half an HR voxel off the unshifted rows: the ramp interpolated there.
            let position = (r - hrRows[0]) / step
            #expect(abs(position - position.rounded(.down) - 0.5) < 1e-3, "\(position)")
        }
        // Grids that are not a thick version of the HR grid are refused with the reason.
        var rotated = lr
        rotated.affine = Affine.scaling([1, 1, 1]) * Affine(rows: [[0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 3, 1], [0, 0, 0, 1]])
        #expect(throws: ModelError.self) { try StackBuilder.paired(hr: hr, lr: rotated, name: "rotated", task: tinyTask, factor: 3) }
        #expect(throws: ModelError.self) { try StackBuilder.paired(hr: hr, lr: lr, name: "factor", task: tinyTask, factor: 2) }
    }

    @Test func wholeSliceBatchesAndTheDihedralGroup() throws {
        let (train, _) = try stacks()
        var data = config(steps: 1).data
        data.sampling = .slices
        let sampler = try PatchSampler(stacks: train, config: data, factor: 3, channels: 3)
        let (lr, hr) = try sampler.batch(size: 3, generator: Generator(seed: 2))
        let k = train[0].lr.shape[2]
        #expect(lr.shape[0] == 3 && lr.shape[1] == 3 && lr.shape[2] == k && [12, 14].contains(lr.shape[3]))
        #expect(hr.shape == [3, 1, 3 * k, lr.shape[3]])
        #expect(try sampler.validationBatches(count: 5, generator: Generator(seed: 3)).count == 5)
        // The 8 transforms of the plane across axis 2 are distinct, and 0 is the identity.
        let x = try Tensor.rand([4, 4, 2], generator: Generator(seed: 1))
        let all = try (0..<8).map { try StackBuilder.dihedralTransform(x, axis: 2, index: $0).contiguous() }
        #expect(try all[0].equal(x))
        for a in 0..<8 { for b in (a + 1)..<8 { #expect(try !all[a].equal(all[b]), "\(a) = \(b)") } }
        // Transposes are skipped for non-square pixels (they would change the voxel size).
        #expect(try StackBuilder.dihedralTransform(x, axis: 2, index: 4, squarePixels: false).equal(x))
    }

    @Test func theSSIMLossIsOneMinusScikitImageSSIM() throws {
        // NN's differentiable 1 - SSIM against Imaging's SSIM (checked against scikit-image).
        let y = try Tensor.rand([3, 1, 20, 17], dtype: .float64, generator: Generator(seed: 2))
        let x = try (y * 0.8 + Tensor.rand(y.shape, dtype: .float64, generator: Generator(seed: 3)) * 0.2)
        let expected = try SSIM(precision: .float64).compare(x.squeeze(1), y.squeeze(1), dims: 2, dataRange: .value(1)).mean
        #expect(abs(try Loss.ssim(x, y).item() - (1 - expected)) < 1e-10)
    }

    @Test func configurationsTakeDefaultsAndRefuseUnknownFields() throws {
        let minimal = try JSONDecoder().decode(TrainConfig.self, from: Data(#"{"steps": 7, "data": {"sampling": "slices"}}"#.utf8))
        var expected = TrainConfig(steps: 7)
        expected.data.sampling = .slices
        #expect(minimal == expected)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(TrainConfig.self, from: Data(#"{"step": 7}"#.utf8)) }
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(TrainConfig.self, from: Data(#"{"data": {"patchwidth": 7}}"#.utf8))
        }
        // The shipped model's configuration reads back (it reproduces that model).
        let shipped = try JSONDecoder().decode(TrainConfig.self, from: Data(contentsOf: packageRoot.appendingPathComponent("models/thick-5-6-t1/train.json")))
        #expect(shipped.steps == 15000 && shipped.model.contract.fixedFactor == 6 && !shipped.data.dihedral)
    }

    @Test func aRunKilledAndResumedFollowsTheSameCurve() throws {
        let whole = try scratchFolder().appendingPathComponent("run")
        let a = try Trainer(config: config(steps: 6), folder: whole, resume: false, stacks: stacks())
        try a.run()
        let split = try scratchFolder().appendingPathComponent("run")
        let b1 = try Trainer(config: config(steps: 6), folder: split, resume: false, stacks: stacks())
        try b1.run(maxSteps: 3)
        #expect(b1.step == 3)
        // A new process: everything rebuilt from the folder.
        let b2 = try Trainer(config: config(steps: 6), folder: split, resume: true, stacks: stacks())
        #expect(b2.step == 3)
        try b2.run()
        let tail = a.history.suffix(3).map(\.loss)
        #expect(b2.history.map(\.loss) == Array(tail), "\(b2.history) vs \(a.history)")
        for ((n1, t1), (_, t2)) in zip(a.model.namedTensors(), b2.model.namedTensors()) {
            #expect(try (t1 - t2).abs().max().item() == 0, "\(n1) differs")
        }
        for f in ["config.json", "checkpoint.safetensors", "best.safetensors", "model.safetensors"] {
            #expect(FileManager.default.fileExists(atPath: split.appendingPathComponent(f).path), "\(f)")
        }
        // A second new run in the same folder is refused.
        #expect(throws: ModelError.self) { try Trainer(config: config(steps: 6), folder: split, resume: false, stacks: stacks()) }
    }

    @Test func aTinyModelOverfitsATinyDataset() throws {
        // One 8 x 8 x 12 volume (4 LR slices: each sample is a whole 8 x 4 patch), no augmentation
        // and no random degradations: the training loss must fall at least 10x.
        var c = config(steps: 300)
        c.validateEvery = 300
        c.checkpointEvery = 300
        c.schedule = .constant
        c.learningRate = 3e-3
        c.data.noise = 0
        c.data.intensityScale = 0
        c.data.flips = false
        c.data.dihedral = false
        c.data.simulateBias = false
        c.data.simulateNoise = false
        c.data.thicknessJitter = 0
        c.model = ModelSpec(EDSRConfig(inChannels: 3, outChannels: 1, features: 16, blocks: 2, residualScale: 0.1, factor: 3, upsampleFeatures: 4))
        let hr = try phantom([8, 8, 12]) { i, j, k in 100 + 40 * sin(Double(i) / 2) * cos(Double(j) / 3) + 30 * sin(Double(k) * 1.3) }
        let s = try StackBuilder.simulate(hr: hr, name: "tiny", config: c.data, task: tinyTask, factor: 3, seed: 4)
        let t = try Trainer(config: c, folder: try scratchFolder().appendingPathComponent("run"), resume: false, stacks: (s, s))
        try t.run()
        let first = t.history.prefix(10).map(\.loss).reduce(0, +) / 10
        let last = t.history.suffix(10).map(\.loss).reduce(0, +) / 10
        #expect(last < first / 10, "loss \(first) -> \(last)")
    }
}

@Suite struct ReconstructionTests {
    func model(factor: Int = 3) throws -> ModelFile {
        let dir = try scratchFolder()
        var c = tinyModel
        c.factor = factor
        let m = try EDSR(c, generator: Generator(seed: 1))
        let url = dir.appendingPathComponent("model.safetensors")
        try ModelFile.save(m, task: ModelTask(sliceSpacing: Double(factor), targetSpacing: 1, sliceThickness: Double(factor)), to: url)
        return try ModelFile.load(url)
    }

    @Test func outputVoxelsLandWhereTheyShould() throws {
        // Axial, coronal, sagittal and oblique thick-slice inputs: every output voxel's world
        // position is the input grid's position at slice k + (r - 1) / 3.
        let c = cos(0.4), s = sin(0.4)
        let oblique = Affine(rows: [[c, 0, -3 * s, 5], [0, 1, 0, -7], [s, 0, 3 * c, 11], [0, 0, 0, 1]])
        let cases: [(Affine, Int)] = [
            (.scaling([1, 1, 3], translation: [-10, 4, 2]), 2),
            (Affine(rows: [[-1, 0, 0, 8], [0, 0, 1, -20], [0, 3, 0, 3], [0, 0, 0, 1]]), 1),
            (Affine(rows: [[0, 0, 3, 0], [1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1]]), 2),
            (oblique, 2),
        ]
        let m = try model()
        for (affine, axis) in cases {
            var shape = [9, 10, 11]
            shape[axis] = 6
            var v = try phantom(shape) { i, j, k in Double(i + j + k) }
            v.affine = affine
            let (out, report) = try Reconstruction.upsample(v, model: m, targetSpacing: 1)
            #expect(report.throughPlaneAxis == axis)
            var expectedShape = shape
            expectedShape[axis] *= 3
            #expect(out.shape == expectedShape)
            for (j, other) in [(0, 0), (4, 3), (17, 5)] where j < expectedShape[axis] {
                var outVoxel = [Double(other), Double(other), Double(other)]
                outVoxel[axis] = Double(j)
                var inVoxel = outVoxel
                inVoxel[axis] = Double(j / 3) + Double(j % 3 - 1) / 3
                let a = out.world(ofVoxel: outVoxel), b = v.world(ofVoxel: inVoxel)
                for d in 0..<3 { #expect(abs(a[d] - b[d]) < 1e-9, "axis \(axis) voxel \(outVoxel)") }
            }
            expectClose(out.spacing, [1, 1, 1], rtol: 1e-9)
        }
    }

    @Test func aConstantInputGivesAConstantOutput() throws {
        // The same value in every slice: the interpolation baselines and the model's base path
        // (its residual silenced) give that value everywhere; the shipped model stays within
        // 2% of it (its residual on a flat image is small, not zero).
        let v = Volume(data: try Tensor.full([8, 9, 5], .double(250), dtype: .float32), affine: .scaling([1, 1, 3]))
        for method in [Interpolation.linear, .cubic, .sinc] {
            let out = try Reconstruction.interpolate(v, method: method, targetSpacing: 1)
            #expect(try (out.data - 250).abs().max().item() < 1e-3, "\(method)")
        }
        let m = try model()
        try withNoGrad { let e = m.model as! EDSR; _ = try e.tail.weight.zero_(); _ = try e.tail.bias!.zero_() }
        let (out, _) = try Reconstruction.upsample(v, model: m, targetSpacing: 1)
        #expect(out.shape == [8, 9, 15])
        #expect(try (out.data - 250).abs().max().item() < 1e-3)
        let shipped = packageRoot.appendingPathComponent("models/thick-5-6-t1")
        if FileManager.default.fileExists(atPath: shipped.appendingPathComponent("model.safetensors").path) {
            let big = Volume(data: try Tensor.full([40, 30, 8], .double(250), dtype: .float32), affine: .scaling([1, 1, 6]))
            let (o, _) = try Reconstruction.upsample(big, model: ModelFile.load(shipped), targetSpacing: 1)
            #expect(try (o.data - 250).abs().max().item() < 5, "shipped model on a constant image")
        }
    }

    @Test func badInputsAreRefused() throws {
        let m = try model()
        func message(_ v: Volume, target: Double = 1) -> String {
            do { _ = try Reconstruction.upsample(v, model: m, targetSpacing: target); return "" } catch { return "\(error)" }
        }
        let iso = try phantom([6, 6, 6]) { _, _, _ in 1 }
        #expect(message(iso).contains("already at or below the target spacing"))
        var nan = try phantom([6, 6, 4], spacing: [1, 1, 3]) { _, _, _ in 1 }
        nan.data = try nan.data.index_put_nan()
        #expect(message(nan).contains("NaN or infinite"))
        let four = Volume(data: try Tensor.ones([6, 6, 4, 2]), affine: .scaling([1, 1, 3]))
        #expect(message(four).contains("3-D volume"))
        let wrongFactor = try phantom([6, 6, 4], spacing: [1, 1, 5]) { _, _, _ in 1 }
        #expect(message(wrongFactor).contains("reconstructs factor 3") && message(wrongFactor).contains("--interp"))
    }
}

extension Tensor {
    /// A copy with its first element NaN.
    func index_put_nan() throws -> Tensor {
        var values = try to(.float32).contiguous().flatten().toArray(Float.self)
        values[0] = .nan
        return try Tensor(values, shape: shape)
    }
}

func expectClose(_ a: [Double], _ b: [Double], rtol: Double, sourceLocation: SourceLocation = #_sourceLocation) {
    for (x, y) in zip(a, b) { #expect(abs(x - y) <= rtol * max(abs(y), 1), "\(a) vs \(b)", sourceLocation: sourceLocation) }
}
