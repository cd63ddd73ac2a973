// Flow-matching samplers following huggingface/diffusers
// schedulers/scheduling_unipc_multistep.py (UniPCMultistepScheduler with use_flow_sigmas and
// prediction_type "flow_prediction") and schedulers/scheduling_flow_match_euler_discrete.py
// (FlowMatchEulerDiscreteScheduler), as pipelines/wan/pipeline_wan.py drives them.
//
// The tables are computed with the reference's own arithmetic: numpy float64 where it uses
// numpy, float32 where it uses torch tensors, so timesteps match exactly and sigmas to the bit
// or nearly. The per-step scalar coefficients are float32 as in torch.

import Foundation

// MARK: - Settings

/// What a flow-matching sampler needs from a diffusers `scheduler_config.json`.
public struct SamplerSettings: Sendable, Equatable {
    public enum SolverType: String, Sendable { case bh1, bh2 }

    public var kind: SamplerKind
    /// `flow_shift` (UniPC) or `shift` (Euler): S(σ) = s·σ / (1 + (s − 1)·σ).
    public var shift: Double
    public var numTrainTimesteps: Int
    /// UniPC only: history length (1 or 2).
    public var solverOrder: Int
    public var solverType: SolverType
    public var lowerOrderFinal: Bool
    /// UniPC only: step indices after which the corrector is skipped.
    public var disableCorrector: [Int]

    public init(kind: SamplerKind, shift: Double, numTrainTimesteps: Int = 1000, solverOrder: Int = 2,
                solverType: SolverType = .bh2, lowerOrderFinal: Bool = true, disableCorrector: [Int] = []) {
        self.kind = kind
        self.shift = shift
        self.numTrainTimesteps = numTrainTimesteps
        self.solverOrder = solverOrder
        self.solverType = solverType
        self.lowerOrderFinal = lowerOrderFinal
        self.disableCorrector = disableCorrector
    }

    /// Wan2.1's published scheduler: UniPC, flow prediction, bh2, order 2, flow_shift 3.
    public static let wanDefault = SamplerSettings(kind: .unipc, shift: 3.0)

    public func validate() throws {
        guard shift.isFinite, shift > 0 else {
            throw KinemaError.invalidArgument("sampler shift must be a positive number, got \(shift)")
        }
        guard numTrainTimesteps >= 2 else {
            throw KinemaError.invalidArgument("num_train_timesteps must be at least 2, got \(numTrainTimesteps)")
        }
        guard (1...2).contains(solverOrder) else {
            throw KinemaError.unsupported("UniPC solver_order \(solverOrder) (supported: 1 or 2)")
        }
    }
}

// MARK: - Schedule

/// The sigma and timestep table of one sampling run.
public struct FlowSchedule: Sendable, Equatable {
    /// σ for each step plus the final σ: `steps + 1` values, decreasing.
    public let sigmas: [Float]
    /// The timestep the model receives at each step (`steps` values). Integers for UniPC, as
    /// diffusers passes them; the float32 value 1000·σ for Euler.
    public let timesteps: [Float]

    public var steps: Int { timesteps.count }

    public init(settings: SamplerSettings, steps: Int) throws {
        try settings.validate()
        guard steps >= 1 else {
            throw KinemaError.invalidArgument("the number of sampling steps must be at least 1, got \(steps)")
        }
        guard steps <= 100_000 else {
            throw KinemaError.invalidArgument("too many sampling steps: \(steps)")
        }
        switch settings.kind {
        case .unipc: (sigmas, timesteps) = FlowSchedule.uniPC(settings, steps)
        case .euler: (sigmas, timesteps) = FlowSchedule.euler(settings, steps)
        }
    }

    /// `np.linspace(start, stop, num)`: i·step + start, with the last point set to `stop`.
    static func linspace(_ start: Double, _ stop: Double, _ num: Int) -> [Double] {
        guard num > 1 else { return num == 1 ? [start] : [] }
        let step = (stop - start) / Double(num - 1)
        var out = (0..<num).map { Double($0) * step + start }
        out[num - 1] = stop
        return out
    }

    static func shifted(_ sigma: Double, _ shift: Double) -> Double {
        shift * sigma / (1 + (shift - 1) * sigma)
    }

    /// UniPC `set_timesteps` with `use_flow_sigmas`: σ̃ = linspace(1, 1/N_train, N+1)[:-1],
    /// shifted in float64; σ₀ nudged below 1; t = int64(1000·σ) (truncated); σ = 0 appended
    /// (`final_sigmas_type` "zero", the only type whose last step is defined for flow sigmas).
    static func uniPC(_ s: SamplerSettings, _ steps: Int) -> ([Float], [Float]) {
        let train = Double(s.numTrainTimesteps)
        var sigmas = linspace(1, 1 / train, steps + 1).dropLast().map { shifted($0, s.shift) }
        if abs(sigmas[0] - 1) < 1e-6 { sigmas[0] -= 1e-6 }
        let timesteps = sigmas.map { Float(Int64(($0 * train).rounded(.towardZero))) }
        var table = sigmas.map { Float($0) }
        table.append(0)
        return (table, timesteps)
    }

    /// FlowMatchEulerDiscreteScheduler: its constructor shifts the float32 training grid (so
    /// σ_min is shifted once there), `set_timesteps` spaces t linearly between 1000·σ_max and
    /// 1000·σ_min in float64 and shifts again; t = float32(σ)·1000 in float32.
    static func euler(_ s: SamplerSettings, _ steps: Int) -> ([Float], [Float]) {
        let train = Float(s.numTrainTimesteps)
        let shift32 = Float(s.shift), shiftMinusOne32 = Float(s.shift - 1)
        func shiftedFloat(_ x: Float) -> Float { shift32 * x / (1 + shiftMinusOne32 * x) }
        let sigmaMax = Double(shiftedFloat(train / train))
        let sigmaMin = Double(shiftedFloat(1 / train))
        let trainD = Double(s.numTrainTimesteps)
        let ts = linspace(sigmaMax * trainD, sigmaMin * trainD, steps)
        var table = ts.map { Float(shifted($0 / trainD, s.shift)) }
        let timesteps = table.map { $0 * train }
        table.append(0)
        return (table, timesteps)
    }
}

// MARK: - Solvers

/// One sampler's state across a run: takes the model's velocity at each step and returns the
/// next latent. Value type; make a new one per run.
public struct FlowSolver: Sendable {
    public let settings: SamplerSettings
    public let schedule: FlowSchedule
    public private(set) var stepIndex = 0

    // UniPC state: data predictions m of the last `solverOrder` steps (newest last), the last
    // (corrected) sample, the order used by the last predictor, and how many warm-up steps ran.
    private var history: [[Float]] = []
    private var lastSample: [Float]?
    private var lastOrder = 0
    private var lowerOrderCount = 0
    private var latentShape: [Int]?

    public init(settings: SamplerSettings, steps: Int) throws {
        self.settings = settings
        self.schedule = try FlowSchedule(settings: settings, steps: steps)
    }

    /// The model timestep for the next step.
    public var currentTimestep: Float? {
        stepIndex < schedule.steps ? schedule.timesteps[stepIndex] : nil
    }

    /// Advances one step: `sample` is the current latent, `velocity` the (guided) model output.
    public mutating func step(velocity: Tensor, sample: Tensor) throws -> Tensor {
        guard stepIndex < schedule.steps else {
            throw KinemaError(.wrongState, "sampler: all \(schedule.steps) steps have already run")
        }
        guard velocity.shape == sample.shape else {
            throw KinemaError.shape("sampler: velocity \(velocity.shape) does not match the latent \(sample.shape)")
        }
        if let latentShape, latentShape != sample.shape {
            throw KinemaError.shape("sampler: latent \(sample.shape) differs from the \(latentShape) of earlier steps")
        }
        latentShape = sample.shape
        let next: [Float]
        switch settings.kind {
        case .euler: next = eulerStep(velocity.data, sample.data)
        case .unipc: next = uniPCStep(velocity.data, sample.data)
        }
        stepIndex += 1
        return Tensor(unchecked: sample.shape, data: next)
    }

    private func eulerStep(_ v: [Float], _ x: [Float]) -> [Float] {
        let dt = schedule.sigmas[stepIndex + 1] - schedule.sigmas[stepIndex]
        var out = x
        for i in 0..<out.count { out[i] += dt * v[i] }
        return out
    }

    /// λ = ln α − ln σ with α = 1 − σ (float32, as torch computes it; +∞ at σ = 0).
    private func lambda(_ index: Int) -> Float {
        let sigma = schedule.sigmas[index]
        return logf(1 - sigma) - logf(sigma)
    }

    private mutating func uniPCStep(_ v: [Float], _ x: [Float]) -> [Float] {
        let k = stepIndex
        let sigma = schedule.sigmas[k]
        // Data prediction from the uncorrected sample: m = x − σ·v.
        var model = [Float](repeating: 0, count: x.count)
        for i in 0..<x.count { model[i] = x[i] - sigma * v[i] }

        var sample = x
        if k > 0, !settings.disableCorrector.contains(k - 1), let last = lastSample {
            sample = corrector(model: model, lastSample: last, order: lastOrder)
        }
        history.append(model)
        if history.count > settings.solverOrder { history.removeFirst() }

        var order = settings.solverOrder
        if settings.lowerOrderFinal { order = min(order, schedule.steps - k) }
        order = min(order, lowerOrderCount + 1)
        lastOrder = order
        lastSample = sample
        let next = predictor(sample: sample, order: order)
        if lowerOrderCount < settings.solverOrder { lowerOrderCount += 1 }
        return next
    }

    /// The b-vector terms of UniPC for step size h (hh = −h, predict-x0 form).
    private func coefficients(_ h: Float) -> (phi1: Float, bh: Float, b1: Float, b2: Float) {
        let hh = -h
        let phi1 = expm1f(hh)
        let bh: Float = settings.solverType == .bh2 ? phi1 : hh
        var phiK = phi1 / hh - 1
        let b1 = phiK / bh
        phiK = phiK / hh - 0.5
        let b2 = phiK * 2 / bh
        return (phi1, bh, b1, b2)
    }

    /// UniP from σ_k to σ_{k+1}.
    private func predictor(sample x: [Float], order: Int) -> [Float] {
        let k = stepIndex
        let sigmaT = schedule.sigmas[k + 1], sigmaS = schedule.sigmas[k]
        let alphaT = 1 - sigmaT
        let m0 = history[history.count - 1]
        var out = [Float](repeating: 0, count: x.count)
        if sigmaT == 0 {
            // λ = +∞: φ₁ = B_h = −1 and every higher-order term has weight 0 in the limit, so the
            // update is x_{k+1} = m_k (the reference evaluates the same through ln 0).
            for i in 0..<x.count { out[i] = 0 / sigmaS * x[i] + alphaT * m0[i] }
            return out
        }
        let lambdaS = lambda(k)
        let h = lambda(k + 1) - lambdaS
        let c = coefficients(h)
        let ratio = sigmaT / sigmaS
        let scaleM = alphaT * c.phi1
        if order == 2, history.count >= 2 {
            let m1 = history[history.count - 2]
            let rk = (lambda(k - 1) - lambdaS) / h
            let scaleD = alphaT * c.bh
            for i in 0..<x.count {
                let d1 = (m1[i] - m0[i]) / rk
                out[i] = (ratio * x[i] - scaleM * m0[i]) - scaleD * (0.5 * d1)
            }
        } else {
            for i in 0..<x.count { out[i] = ratio * x[i] - scaleM * m0[i] }
        }
        return out
    }

    /// UniC: corrects the sample of step k with the new data prediction `model`.
    private func corrector(model mt: [Float], lastSample x: [Float], order: Int) -> [Float] {
        let k = stepIndex
        let sigmaT = schedule.sigmas[k], sigmaS = schedule.sigmas[k - 1]
        let alphaT = 1 - sigmaT
        let m0 = history[history.count - 1]
        let lambdaS = lambda(k - 1)
        let h = lambda(k) - lambdaS
        let c = coefficients(h)
        let ratio = sigmaT / sigmaS
        let scaleM = alphaT * c.phi1
        let scaleD = alphaT * c.bh
        var out = [Float](repeating: 0, count: x.count)
        if order == 2, history.count >= 2, k >= 2 {
            let m1 = history[history.count - 2]
            let rk = (lambda(k - 2) - lambdaS) / h
            // Solve [[1, 1], [rk, 1]]·ρ = (b1, b2).
            let det = Double(1 - rk)
            let rho0 = Float((Double(c.b1) - Double(c.b2)) / det)
            let rho1 = Float((Double(c.b2) - Double(rk) * Double(c.b1)) / det)
            for i in 0..<x.count {
                let d1 = (m1[i] - m0[i]) / rk
                let dt = mt[i] - m0[i]
                out[i] = (ratio * x[i] - scaleM * m0[i]) - scaleD * (rho0 * d1 + rho1 * dt)
            }
        } else {
            for i in 0..<x.count {
                let dt = mt[i] - m0[i]
                out[i] = (ratio * x[i] - scaleM * m0[i]) - scaleD * (0.5 * dt)
            }
        }
        return out
    }
}

// MARK: - Sampling loop

/// Progress of a sampling run, reported after each step.
public struct SamplingProgress: Sendable, Equatable {
    /// Steps finished (1…totalSteps).
    public var step: Int
    public var totalSteps: Int
    /// The timestep the model was evaluated at in this step.
    public var timestep: Float
}

public enum Sampler {
    /// Runs a whole flow-matching sampling loop.
    ///
    /// `velocity(latent, timestep, conditional)` evaluates the model: with the conditional
    /// context when `conditional` is true, else the unconditional one. With `guidance > 1`
    /// both run and combine as v_u + g·(v_c − v_u); otherwise only the conditional pass runs.
    /// `progress` is called on the calling thread after every step. Cancellation is checked
    /// before every model evaluation (the model checks it more often inside).
    public static func sample(
        initial: Tensor, settings: SamplerSettings, steps: Int, guidance: Float,
        cancel: CancellationToken? = nil,
        progress: ((SamplingProgress) -> Void)? = nil,
        velocity: (_ latent: Tensor, _ timestep: Float, _ conditional: Bool) throws -> Tensor
    ) throws -> Tensor {
        guard guidance.isFinite else {
            throw KinemaError.invalidArgument("guidance must be a finite number, got \(guidance)")
        }
        var solver = try FlowSolver(settings: settings, steps: steps)
        var x = initial
        for k in 0..<solver.schedule.steps {
            let t = solver.schedule.timesteps[k]
            try cancel?.check()
            var v = try velocity(x, t, true)
            if guidance > 1 {
                try cancel?.check()
                let vu = try velocity(x, t, false)
                guard vu.shape == v.shape else {
                    throw KinemaError.shape("sampler: unconditional velocity \(vu.shape) does not match \(v.shape)")
                }
                for i in 0..<v.data.count { v.data[i] = vu.data[i] + guidance * (v.data[i] - vu.data[i]) }
            }
            x = try solver.step(velocity: v, sample: x)
            progress?(SamplingProgress(step: k + 1, totalSteps: solver.schedule.steps, timestep: t))
        }
        return x
    }

    /// Runs the loop with a Wan transformer and prepared text contexts.
    public static func sample(
        initial: Tensor, transformer: WanTransformer,
        conditional cond: WanTransformer.PreparedContext, unconditional uncond: WanTransformer.PreparedContext?,
        settings: SamplerSettings, steps: Int, guidance: Float,
        cancel: CancellationToken? = nil,
        progress: ((SamplingProgress) -> Void)? = nil
    ) throws -> Tensor {
        try sample(initial: initial, transformer: transformer, conditional: [(0, cond)], unconditional: uncond,
                   settings: settings, steps: steps, guidance: guidance, cancel: cancel, progress: progress)
    }

    /// Runs the loop with a conditional context per span of latent frames (see
    /// `WanTransformer.forward(latent:timestep:schedule:)`); the unconditional pass uses one
    /// context for every frame.
    ///
    /// `leading`, latent frames [C, k, H, W] (an encoded image), holds the first k frames fixed:
    /// the transformer always sees them clean, at timestep 0, in place of the sample's own, and
    /// they replace them in the result. This is diffusers' `WanImageToVideoPipeline` with
    /// `expand_timesteps` (Wan2.2's image-to-video); the solver still steps every frame, and as
    /// it works element by element the replaced frames do not leak into the others.
    public static func sample(
        initial: Tensor, transformer: WanTransformer,
        conditional schedule: [(firstFrame: Int, context: WanTransformer.PreparedContext)],
        unconditional uncond: WanTransformer.PreparedContext?,
        settings: SamplerSettings, steps: Int, guidance: Float,
        leading: Tensor? = nil,
        cancel: CancellationToken? = nil,
        progress: ((SamplingProgress) -> Void)? = nil
    ) throws -> Tensor {
        if guidance > 1, uncond == nil {
            throw KinemaError.invalidArgument("guidance \(guidance) needs an unconditional (negative) context")
        }
        let cleanFrames = leading?.shape[1] ?? 0
        if let leading {
            guard leading.rank == 4, initial.rank == 4, leading.shape[0] == initial.shape[0],
                  leading.shape[2] == initial.shape[2], leading.shape[3] == initial.shape[3],
                  leading.shape[1] >= 1, leading.shape[1] < initial.shape[1] else {
                throw KinemaError.shape("leading latent frames \(leading.shape) do not fit the latent \(initial.shape)")
            }
        }
        func withLeading(_ x: Tensor) -> Tensor {
            guard let leading else { return x }
            return replacingLeadingFrames(of: x, with: leading)
        }
        let x = try sample(initial: initial, settings: settings, steps: steps, guidance: guidance,
                           cancel: cancel, progress: progress) { latent, t, conditional in
            let input = withLeading(latent)
            if !conditional, let uncond {
                return try transformer.forward(latent: input, timestep: t, schedule: [(0, uncond)],
                                               cleanFrames: cleanFrames, cancel: cancel)
            }
            return try transformer.forward(latent: input, timestep: t, schedule: schedule,
                                           cleanFrames: cleanFrames, cancel: cancel)
        }
        return withLeading(x)
    }

    /// `x` [C, T, H, W] with its first `leading.shape[1]` frames replaced by `leading`
    /// [C, k, H, W] (shapes checked by the caller).
    static func replacingLeadingFrames(of x: Tensor, with leading: Tensor) -> Tensor {
        var out = x
        let (c, t, k) = (x.shape[0], x.shape[1], leading.shape[1])
        let plane = x.shape[2] * x.shape[3]
        out.data.withMutablePointer { op in leading.data.withPointer { lp in
            for ch in 0..<c {
                (op + ch * t * plane).update(from: lp + ch * k * plane, count: k * plane)
            }
        } }
        return out
    }
}

// MARK: - From diffusers configs

extension SamplerSettings {
    /// The settings a diffusers `scheduler_config.json` describes. Options that change the
    /// schedule or the update in ways not implemented here are `.unsupported` naming the key.
    public init(config: SchedulerConfig) throws {
        try config.validate()
        func unsupported(_ what: String) -> KinemaError {
            .unsupported("\(config.kind.rawValue): \(what) is not supported")
        }
        if config.useKarrasSigmas || config.useExponentialSigmas || config.useBetaSigmas {
            throw unsupported("use_karras_sigmas / use_exponential_sigmas / use_beta_sigmas")
        }
        if config.useDynamicShifting { throw unsupported("use_dynamic_shifting") }
        if config.shiftTerminal != nil { throw unsupported("shift_terminal") }
        switch config.kind {
        case .uniPCMultistep:
            guard config.useFlowSigmas else { throw unsupported("use_flow_sigmas = false (only flow-matching schedules)") }
            guard config.predictionType == "flow_prediction" else {
                throw unsupported("prediction_type '\(config.predictionType)' with flow sigmas")
            }
            guard config.predictX0 else { throw unsupported("predict_x0 = false") }
            guard !config.thresholding else { throw unsupported("thresholding") }
            guard config.finalSigmasType == "zero" else { throw unsupported("final_sigmas_type '\(config.finalSigmasType)'") }
            guard (1...2).contains(config.solverOrder) else { throw unsupported("solver_order \(config.solverOrder)") }
            guard let type = SolverType(rawValue: config.solverType) else { throw unsupported("solver_type '\(config.solverType)'") }
            self.init(kind: .unipc, shift: config.flowShift, numTrainTimesteps: config.numTrainTimesteps,
                      solverOrder: config.solverOrder, solverType: type, lowerOrderFinal: config.lowerOrderFinal,
                      disableCorrector: config.disableCorrector)
        case .flowMatchEulerDiscrete:
            if config.invertSigmas { throw unsupported("invert_sigmas") }
            if config.stochasticSampling { throw unsupported("stochastic_sampling") }
            self.init(kind: .euler, shift: config.shift, numTrainTimesteps: config.numTrainTimesteps)
        }
        try validate()
    }
}
