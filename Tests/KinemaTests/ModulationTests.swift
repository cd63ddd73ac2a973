import XCTest
@testable import Kinema

/// The fused DiT row kernels against plain loops.
final class ModulationTests: XCTestCase {
    private func values(_ n: Int, seed: UInt64) -> [Float] {
        var state = seed
        return (0..<n).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2000 - 1000) / 400
        }
    }

    func testModulatedLayerNorm() {
        let rows = 5, dim = 37
        let x = values(rows * dim, seed: 1), scale = values(dim, seed: 2), shift = values(dim, seed: 3)
        var out = [Float](repeating: 0, count: rows * dim)
        x.withPointer { xp in scale.withPointer { sp in shift.withPointer { hp in out.withMutablePointer { op in
            Modulation.layerNorm(xp, rows: rows, dim: dim, scale: sp, shift: hp, eps: 1e-6, out: op)
        } } } }
        for r in 0..<rows {
            let row = Array(x[r * dim ..< (r + 1) * dim]).map(Double.init)
            let mean = row.reduce(0, +) / Double(dim)
            let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(dim)
            for j in 0..<dim {
                let expected = (row[j] - mean) / (variance + 1e-6).squareRoot() * (1 + Double(scale[j])) + Double(shift[j])
                XCTAssertEqual(Double(out[r * dim + j]), expected, accuracy: 1e-5)
            }
        }
    }

    func testGatedAdd() {
        let rows = 3, dim = 21, stride = 40
        let x0 = values(rows * dim, seed: 4), y = values(rows * stride, seed: 5)
        let bias = values(dim, seed: 6), gate = values(dim, seed: 7)
        for (b, g) in [(true, true), (true, false), (false, true)] {
            var x = x0
            x.withMutablePointer { xp in y.withPointer { yp in bias.withPointer { bp in gate.withPointer { gp in
                Modulation.addGated(xp, rows: rows, dim: dim, yp, yStride: stride, bias: b ? bp : nil, gate: g ? gp : nil)
            } } } }
            for r in 0..<rows {
                for j in 0..<dim {
                    let v = (y[r * stride + j] + (b ? bias[j] : 0)) * (g ? gate[j] : 1)
                    XCTAssertEqual(x[r * dim + j], x0[r * dim + j] + v, accuracy: 1e-5)
                }
            }
        }
    }

    func testRMSNormThenRoPEOnStridedRows() {
        let rows = 4, heads = 3, headDim = 10, dim = heads * headDim, stride = 70
        let x0 = values(rows * stride, seed: 8), weight = values(dim, seed: 9)
        let angles = values(rows * headDim / 2, seed: 10)
        let cos = angles.map { Foundation.cos($0) }, sin = angles.map { Foundation.sin($0) }
        var x = x0
        x.withMutablePointer { xp in weight.withPointer { wp in cos.withPointer { cp in sin.withPointer { sp in
            Modulation.rmsNormRotate(xp, rows: rows, dim: dim, rowStride: stride, weight: wp, eps: 1e-6,
                                     headDim: headDim, cos: cp, sin: sp)
        } } } }
        for r in 0..<rows {
            let row = x0[r * stride ..< r * stride + dim].map(Double.init)
            let inv = 1 / (row.map { $0 * $0 }.reduce(0, +) / Double(dim) + 1e-6).squareRoot()
            let normed = (0..<dim).map { row[$0] * inv * Double(weight[$0]) }
            for h in 0..<heads {
                for m in 0..<headDim / 2 {
                    let a = normed[h * headDim + 2 * m], b = normed[h * headDim + 2 * m + 1]
                    let c = Double(cos[r * headDim / 2 + m]), s = Double(sin[r * headDim / 2 + m])
                    XCTAssertEqual(Double(x[r * stride + h * headDim + 2 * m]), a * c - b * s, accuracy: 1e-5)
                    XCTAssertEqual(Double(x[r * stride + h * headDim + 2 * m + 1]), a * s + b * c, accuracy: 1e-5)
                }
            }
            // Values between rows are left alone.
            XCTAssertEqual(Array(x[r * stride + dim ..< (r + 1) * stride]), Array(x0[r * stride + dim ..< (r + 1) * stride]))
        }
    }
}
