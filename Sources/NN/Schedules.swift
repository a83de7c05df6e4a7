#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A learning-rate schedule: the rate for step t (0-based), from the base rate. Pure functions
/// of the step (checkpoints need only the step), except ReduceLROnPlateau, whose state is saved.
public enum LearningRateSchedule: Sendable, Equatable, Codable {
    case constant
    /// base x gamma^floor(t / stepSize) (`StepLR`).
    case step(stepSize: Int, gamma: Double)
    /// base x gamma^t (`ExponentialLR`).
    case exponential(gamma: Double)
    /// Cosine annealing with warm restarts (`CosineAnnealingWarmRestarts`, SGDR): periods T0,
    /// T0 Tmult, T0 Tmult^2, ...; eta_min + (base - eta_min)(1 + cos(pi T_cur / T_i)) / 2.
    case cosineWarmRestarts(t0: Int, tMult: Int, etaMin: Double)
    /// `ReduceLROnPlateau` on the validation loss: the rate is base x the multiplier the trainer's
    /// ``ReduceOnPlateau`` holds (saved with checkpoints); `rate(base:step:)` gives the base.
    case plateau(factor: Double, patience: Int, threshold: Double, cooldown: Int, minRate: Double)

    /// The plateau rule this schedule names, fresh; nil for the step-driven schedules.
    public var plateauRule: ReduceOnPlateau? {
        if case let .plateau(factor, patience, threshold, cooldown, minRate) = self {
            return ReduceOnPlateau(factor: factor, patience: patience, threshold: threshold, cooldown: cooldown, minRate: minRate)
        }
        return nil
    }

    public func rate(base: Double, step t: Int) -> Double {
        switch self {
        case .constant, .plateau:
            return base
        case let .step(size, gamma):
            return base * pow(gamma, Double(t / Swift.max(size, 1)))
        case let .exponential(gamma):
            return base * pow(gamma, Double(t))
        case let .cosineWarmRestarts(t0, tMult, etaMin):
            var tCur = Double(t), tI = Double(t0)
            if tMult == 1 {
                tCur = Double(t % t0)
            } else {
                // PyTorch: n = floor(log(t / T0 (Tmult - 1) + 1, Tmult)).
                let n = floor(log(Double(t) / Double(t0) * Double(tMult - 1) + 1) / log(Double(tMult)))
                tCur = Double(t) - Double(t0) * (pow(Double(tMult), n) - 1) / Double(tMult - 1)
                tI = Double(t0) * pow(Double(tMult), n)
            }
            return etaMin + (base - etaMin) * (1 + cos(Double.pi * tCur / tI)) / 2
        }
    }
}

/// A linear warm-up in front of any schedule: rate x min(1, (t + 1) / steps).
public struct Warmup: Sendable, Equatable, Codable {
    public var steps: Int
    public init(steps: Int) { self.steps = steps }
    public func factor(step t: Int) -> Double { steps <= 0 ? 1 : Swift.min(1, Double(t + 1) / Double(steps)) }
}

/// Lowers the rate by `factor` when a monitored value (validation loss) has not improved by
/// more than `threshold` (relative) for `patience` checks (`ReduceLROnPlateau`, mode min, rel).
public struct ReduceOnPlateau: Sendable, Equatable, Codable {
    public var factor: Double
    public var patience: Int
    public var threshold: Double
    public var cooldown: Int
    public var minRate: Double
    public private(set) var best = Double.infinity
    public private(set) var badChecks = 0
    public private(set) var cooldownLeft = 0
    /// The multiplier applied so far.
    public private(set) var scale = 1.0

    public init(factor: Double = 0.1, patience: Int = 10, threshold: Double = 1e-4, cooldown: Int = 0, minRate: Double = 0) {
        self.factor = factor
        self.patience = patience
        self.threshold = threshold
        self.cooldown = cooldown
        self.minRate = minRate
    }

    /// The state as four numbers (best, bad checks, cooldown left, multiplier), for checkpoints.
    public var state: [Double] { [best, Double(badChecks), Double(cooldownLeft), scale] }

    /// Restores a state saved with ``state``.
    public mutating func restore(_ state: [Double]) throws {
        guard state.count == 4 else { throw NNError.stateDict(source: "plateau schedule", problems: ["expected 4 numbers, got \(state.count)"]) }
        (best, badChecks, cooldownLeft, scale) = (state[0], Int(state[1]), Int(state[2]), state[3])
    }

    /// Records a value; returns the new multiplier.
    public mutating func record(_ value: Double, base: Double) -> Double {
        if value < best * (1 - threshold) {
            best = value
            badChecks = 0
        } else {
            badChecks += 1
        }
        if cooldownLeft > 0 {
            cooldownLeft -= 1
            badChecks = 0
        }
        if badChecks > patience {
            let newRate = Swift.max(base * scale * factor, minRate)
            if base * scale - newRate > 1e-8 { scale = newRate / base }
            cooldownLeft = cooldown
            badChecks = 0
        }
        return scale
    }
}
