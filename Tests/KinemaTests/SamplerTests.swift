import Foundation
import XCTest
@testable import Kinema

/// One entry of Fixtures/dit/schedules.json (diffusers' own tables).
private struct ScheduleTable: Decodable {
    let steps: Int
    let shift: Double
    let unipcTimesteps: [Int]
    let unipcSigmas: [Double]
    let eulerTimesteps: [Double]
    let eulerSigmas: [Double]

    enum CodingKeys: String, CodingKey {
        case steps, shift
        case unipcTimesteps = "unipc_timesteps", unipcSigmas = "unipc_sigmas"
        case eulerTimesteps = "euler_timesteps", eulerSigmas = "euler_sigmas"
    }
}

final class SamplerTests: XCTestCase {
    private func tables() throws -> [ScheduleTable] {
        try JSONDecoder().decode([ScheduleTable].self, from: Data(contentsOf: fixtureURL("dit/schedules.json")))
    }

    func testUniPCTableMatchesDiffusers() throws {
        for table in try tables() {
            let schedule = try FlowSchedule(settings: SamplerSettings(kind: .unipc, shift: table.shift), steps: table.steps)
            let label = "UniPC steps \(table.steps) shift \(table.shift)"
            XCTAssertEqual(schedule.timesteps, table.unipcTimesteps.map(Float.init), label)
            XCTAssertEqual(schedule.sigmas.count, table.unipcSigmas.count, label)
            for (a, b) in zip(schedule.sigmas, table.unipcSigmas) {
                XCTAssertEqual(Double(a), b, accuracy: 1e-6, label)
            }
        }
    }

    func testEulerTableMatchesDiffusers() throws {
        for table in try tables() {
            let schedule = try FlowSchedule(settings: SamplerSettings(kind: .euler, shift: table.shift), steps: table.steps)
            let label = "Euler steps \(table.steps) shift \(table.shift)"
            XCTAssertEqual(schedule.timesteps, table.eulerTimesteps.map { Float($0) }, label)
            XCTAssertEqual(schedule.sigmas.count, table.eulerSigmas.count, label)
            for (a, b) in zip(schedule.sigmas, table.eulerSigmas) {
                XCTAssertEqual(Double(a), b, accuracy: 1e-6, label)
            }
        }
    }

    func testKnownWanSchedule() throws {
        // The reference's example: 50 steps, shift 3 starts 999, 993, 986, 979 and ends 113, 60.
        let s = try FlowSchedule(settings: .wanDefault, steps: 50)
        XCTAssertEqual(Array(s.timesteps.prefix(4)), [999, 993, 986, 979])
        XCTAssertEqual(Array(s.timesteps.suffix(2)), [113, 60])
        XCTAssertEqual(s.sigmas.last, 0)
    }

    func testUnsupportedSchedulerConfigsAreErrors() throws {
        var config = try DiTFixture.tiny12.schedulerConfig(.unipc)
        XCTAssertEqual(try SamplerSettings(config: config), .wanDefault)
        config.useFlowSigmas = false
        XCTAssertThrowsError(try SamplerSettings(config: config)) { XCTAssertEqual(($0 as? KinemaError)?.code, .unsupported) }
        config = try DiTFixture.tiny12.schedulerConfig(.unipc)
        config.useKarrasSigmas = true
        XCTAssertThrowsError(try SamplerSettings(config: config))
        config = try DiTFixture.tiny12.schedulerConfig(.unipc)
        config.solverOrder = 3
        XCTAssertThrowsError(try SamplerSettings(config: config))
        var euler = try DiTFixture.tiny12.schedulerConfig(.euler)
        XCTAssertEqual(try SamplerSettings(config: euler).kind, .euler)
        euler.stochasticSampling = true
        XCTAssertThrowsError(try SamplerSettings(config: euler))
    }

    func testSolverRejectsChangingShapesAndExtraSteps() throws {
        var solver = try FlowSolver(settings: .wanDefault, steps: 2)
        let a = Tensor(zeros: [2, 1, 1, 1]), b = Tensor(zeros: [3, 1, 1, 1])
        _ = try solver.step(velocity: a, sample: a)
        XCTAssertThrowsError(try solver.step(velocity: b, sample: b))
        XCTAssertThrowsError(try solver.step(velocity: a, sample: b))
        _ = try solver.step(velocity: a, sample: a)
        XCTAssertNil(solver.currentTimestep)
        XCTAssertThrowsError(try solver.step(velocity: a, sample: a)) { error in
            XCTAssertEqual((error as? KinemaError)?.code, .wrongState)
        }
    }

    func testInvalidSettingsAreErrors() {
        XCTAssertThrowsError(try FlowSchedule(settings: .wanDefault, steps: 0))
        XCTAssertThrowsError(try FlowSchedule(settings: SamplerSettings(kind: .unipc, shift: -1), steps: 4))
        XCTAssertThrowsError(try FlowSchedule(settings: SamplerSettings(kind: .unipc, shift: 3, solverOrder: 3), steps: 4))
    }

    // MARK: - Loops

    /// 4 steps with guidance 5 from the fixture's initial latent, both samplers, against the
    /// diffusers pipeline's loop.
    func testSamplingLoopsMatchDiffusers() throws {
        for fixture in DiTFixture.allCases {
            let model = try fixture.transformer()
            let expected = try fixture.expected()
            let initial = try expected.tensor("loop.initial")
            let cond = try model.prepareContext(try expected.tensor("loop.cond"))
            let uncond = try model.prepareContext(try expected.tensor("loop.uncond"))
            for kind in SamplerKind.allCases {
                let reference = try expected.tensor("loop.\(kind.rawValue)")
                var reported: [Int] = []
                let settings = try SamplerSettings(config: try fixture.schedulerConfig(kind))
                XCTAssertEqual(settings, SamplerSettings(kind: kind, shift: 3))
                let out = try Sampler.sample(
                    initial: initial, transformer: model, conditional: cond, unconditional: uncond,
                    settings: settings, steps: 4, guidance: 5,
                    progress: { reported.append($0.step) })
                assertClose(out, reference, tolerance: relativeTolerance(reference), "\(fixture) \(kind)")
                XCTAssertEqual(reported, [1, 2, 3, 4])
            }
        }
    }

    func testGuidanceAtMostOneSkipsTheUnconditionalPass() throws {
        var calls: [Bool] = []
        let initial = try Tensor(shape: [1, 1, 1, 2], data: [1, -1])
        _ = try Sampler.sample(initial: initial, settings: .wanDefault, steps: 3, guidance: 1) { x, _, conditional in
            calls.append(conditional)
            return x
        }
        XCTAssertEqual(calls, [true, true, true])
        calls = []
        _ = try Sampler.sample(initial: initial, settings: .wanDefault, steps: 2, guidance: 4) { x, _, conditional in
            calls.append(conditional)
            return x
        }
        XCTAssertEqual(calls, [true, false, true, false])
    }

    /// A velocity of ε − x₀ for a fixed pair is integrated exactly by both samplers' last step:
    /// the final latent is the data point.
    func testConstantVelocityReachesTheDataPoint() throws {
        let x0: [Float] = [0.5, -2, 1.25]
        let noise: [Float] = [1, 0.3, -0.7]
        let initial = try Tensor(shape: [3, 1, 1, 1], data: noise)
        for kind in SamplerKind.allCases {
            let out = try Sampler.sample(initial: initial, settings: SamplerSettings(kind: kind, shift: 5),
                                         steps: 6, guidance: 1) { _, _, _ in
                try Tensor(shape: [3, 1, 1, 1], data: zip(noise, x0).map { $0 - $1 })
            }
            for (a, b) in zip(out.data, x0) { XCTAssertEqual(a, b, accuracy: 1e-5, "\(kind)") }
        }
    }

    func testCancelFromProgressStopsBeforeTheNextModelCall() throws {
        let token = CancellationToken()
        var calls = 0
        let initial = try Tensor(shape: [1, 1, 1, 1], data: [1])
        XCTAssertThrowsError(try Sampler.sample(initial: initial, settings: .wanDefault, steps: 5, guidance: 3,
                                                cancel: token, progress: { p in if p.step == 2 { token.cancel() } }) { x, _, _ in
            calls += 1
            return x
        }) { error in
            XCTAssertEqual((error as? KinemaError)?.code, .cancelled)
        }
        XCTAssertEqual(calls, 4)
    }

    /// Cancelling from the transformer's per-block hook ends the loop inside that forward pass.
    func testCancelInsideTheTransformerEndsTheLoop() throws {
        let fixture = DiTFixture.tiny16
        let model = try fixture.transformer()
        let expected = try fixture.expected()
        let initial = try expected.tensor("loop.initial")
        let cond = try model.prepareContext(try expected.tensor("loop.cond"))
        let token = CancellationToken()
        var blocksRun = 0
        XCTAssertThrowsError(try Sampler.sample(initial: initial, settings: .wanDefault, steps: 4, guidance: 1,
                                                cancel: token) { x, t, _ in
            try model.forward(latent: x, timestep: t, prepared: cond, cancel: token) { done, _ in
                blocksRun += 1
                if done == 2 { token.cancel() }
            }
        }) { error in
            XCTAssertEqual((error as? KinemaError)?.code, .cancelled)
        }
        XCTAssertEqual(blocksRun, 2)
    }
}
