import XCTest
@testable import Kinema

final class GEMMTests: XCTestCase {
    /// x·Wᵀ + b against a plain triple loop (exact up to float summation order).
    func testLinearMatchesNaiveLoop() throws {
        let m = 7, k = 13, n = 5
        let x = try Tensor(shape: [m, k], data: (0..<(m * k)).map { Float(($0 * 37) % 11) - 5 })
        let w = try Tensor(shape: [n, k], data: (0..<(n * k)).map { Float(($0 * 17) % 7) - 3 })
        let b = try Tensor(shape: [n], data: (0..<n).map { Float($0) * 0.5 })
        let y = try GEMM.linear(x, weight: w, bias: b)
        XCTAssertEqual(y.shape, [m, n])
        for r in 0..<m {
            for c in 0..<n {
                var s = b.data[c]
                for i in 0..<k { s += x.data[r * k + i] * w.data[c * k + i] }
                XCTAssertEqual(y.data[r * n + c], s, accuracy: 1e-4)
            }
        }
    }

    /// An OpenBLAS that did not know this CPU and fell back to its SSE3 "Prescott" kernels has
    /// been switched, at load, to kernels for the instruction sets the CPU has.
    func testOpenBLASRunsKernelsForThisCPU() throws {
        let environment = ProcessInfo.processInfo.environment
        try XCTSkipIf(environment["OPENBLAS_CORETYPE"] != nil || environment["KINEMA_KEEP_BLAS_CORE"] != nil,
                      "the environment chooses OpenBLAS's kernels")
        let description = Compute.blasDescription
        XCTAssertTrue(description.hasPrefix("OpenBLAS, "), description)
        if (try? Compute.requireSupportedCPU()) != nil {
            XCTAssertNotEqual(Compute.blasKernels.lowercased(), "prescott", description)
        }
    }

    func testLinearRejectsMismatchedShapes() {
        let x = Tensor(zeros: [2, 3])
        let w = Tensor(zeros: [4, 5])
        XCTAssertThrowsError(try GEMM.linear(x, weight: w, bias: nil)) { error in
            XCTAssertEqual((error as? KinemaError)?.code, .shapeMismatch)
        }
    }

    func testTensorRejectsWrongDataCount() {
        XCTAssertThrowsError(try Tensor(shape: [2, 2], data: [1, 2, 3]))
        XCTAssertThrowsError(try Tensor(shape: [-1, 2], data: []))
    }
}
