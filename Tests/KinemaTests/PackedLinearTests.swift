import Foundation
import XCTest
@testable import Kinema

/// `PackedLinearWeight` against a plain double-precision loop over the widened weights.
final class PackedLinearTests: XCTestCase {
    struct Generator {
        var state: UInt64
        mutating func next() -> Float {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2000 - 1000) / 500
        }
    }

    static func bf16Bits(_ v: Float) -> UInt16 { UInt16(v.bitPattern >> 16) }
    static func f16Bits(_ v: Float) -> UInt16 { Float16(v).bitPattern }

    /// Random [n, k] weight data of the given type, and its exact float32 values.
    static func weight(_ dtype: DType, n: Int, k: Int, seed: UInt64) throws -> (WeightData, [Float]) {
        var g = Generator(state: seed)
        let values = (0..<(n * k)).map { _ in g.next() }
        switch dtype {
        case .f32:
            return (try WeightData(shape: [n, k], storage: .f32(values)), values)
        case .bf16:
            let bits = values.map(bf16Bits)
            return (try WeightData(shape: [n, k], storage: .bf16(bits)), bits.map { Float(bitPattern: UInt32($0) << 16) })
        case .f16:
            let bits = values.map(f16Bits)
            return (try WeightData(shape: [n, k], storage: .f16(bits)), bits.map { Float(Float16(bitPattern: $0)) })
        }
    }

    /// out[r][j] = Σ_i x[r][i]·w[j][i] in double precision.
    static func reference(_ x: [Float], rows m: Int, rowStride: Int, _ w: [Float], n: Int, k: Int) -> [Double] {
        var out = [Double](repeating: 0, count: m * n)
        for r in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for i in 0..<k { s += Double(x[r * rowStride + i]) * Double(w[j * k + i]) }
                out[r * n + j] = s
            }
        }
        return out
    }

    /// The kernels this CPU runs: the AVX2 one, and the AVX-512 one where the CPU has it.
    static var kernels: [Bool] { PackedLinearWeight.cpuHasAVX512 ? [false, true] : [false] }

    override func tearDown() {
        PackedLinearWeight.useAVX512 = PackedLinearWeight.cpuHasAVX512
        super.tearDown()
    }

    /// `checkOne` with each kernel this CPU runs (`tearDown` restores the CPU's choice).
    func check(_ parts: [(DType, Int)], k: Int, rows: [Int], file: StaticString = #filePath, line: UInt = #line) throws {
        for wide in Self.kernels {
            PackedLinearWeight.useAVX512 = wide
            try checkOne(parts, k: k, rows: rows, file: file, line: line)
        }
    }

    func checkOne(_ parts: [(DType, Int)], k: Int, rows: [Int], file: StaticString = #filePath, line: UInt = #line) throws {
        var datas: [WeightData] = []
        var values: [Float] = []
        for (index, (dtype, n)) in parts.enumerated() {
            let (data, widened) = try Self.weight(dtype, n: n, k: k, seed: UInt64(index * 7 + n * 131 + k))
            datas.append(data)
            values += widened
        }
        let n = values.count / max(k, 1)
        let packed = try PackedLinearWeight(stacking: datas)
        XCTAssertEqual(packed.outFeatures, n, file: file, line: line)
        for m in rows {
            let rowStride = k + 3, outStride = n + 5
            var g = Generator(state: UInt64(m * 1000 + k))
            let x = (0..<(m * rowStride)).map { _ in g.next() }
            let expected = Self.reference(x, rows: m, rowStride: rowStride, values, n: n, k: k)
            let initial = (0..<(m * outStride)).map { Float($0 % 7) }
            for accumulate in [false, true] {
                var out = initial
                // The accumulating run packs its input in a caller-provided workspace.
                var workspace = [Float](repeating: .nan, count: m * k)
                x.withPointer { xp in
                    out.withMutablePointer { op in
                        workspace.withMutablePointer { wp in
                            packed.apply(xp, rows: m, rowStride: rowStride, out: op, outStride: outStride,
                                         accumulate: accumulate, workspace: accumulate ? wp : nil)
                        }
                    }
                }
                var worst = 0.0
                for r in 0..<m {
                    for j in 0..<n {
                        let base = accumulate ? Double(initial[r * outStride + j]) : 0
                        worst = max(worst, abs(Double(out[r * outStride + j]) - base - expected[r * n + j]))
                    }
                    // Padding between rows is never written.
                    for j in n..<outStride where r * outStride + j < out.count {
                        XCTAssertEqual(out[r * outStride + j], initial[r * outStride + j], file: file, line: line)
                    }
                }
                XCTAssertLessThanOrEqual(worst, 1e-5 * Double(max(k, 1)), "\(parts) k \(k) m \(m) accumulate \(accumulate)", file: file, line: line)
            }
        }
    }

    /// Where the CPU has AVX-512, bf16 and float32 weights run on its 12-row kernel and f16 ones
    /// on the AVX2 kernel; both sum each output in the same order with fused multiply-adds, so
    /// the two kernels give the same bits for every row count, ragged panel and accumulation.
    func testAVX512KernelGivesTheAVX2KernelsBits() throws {
        guard PackedLinearWeight.cpuHasAVX512 else { throw XCTSkip("this CPU has no AVX-512F") }
        for dtype in [DType.bf16, .f32, .f16] {
            for (n, k) in [(1, 1), (17, 7), (40, 300), (16, 4096)] {
                let packed = try PackedLinearWeight(try Self.weight(dtype, n: n, k: k, seed: UInt64(n + k)).0)
                for m in [1, 5, 6, 7, 11, 12, 13, 24, 25, 40] {
                    var g = Generator(state: UInt64(m * 31 + k))
                    let x = (0..<(m * k)).map { _ in g.next() }
                    for accumulate in [false, true] {
                        var results: [[Float]] = []
                        for wide in [false, true] {
                            PackedLinearWeight.useAVX512 = wide
                            XCTAssertEqual(packed.usesAVX512, wide && dtype != .f16)
                            var out = (0..<(m * (n + 1))).map { Float($0 % 5) }
                            x.withPointer { xp in
                                out.withMutablePointer { op in
                                    packed.apply(xp, rows: m, rowStride: k, out: op, outStride: n + 1, accumulate: accumulate)
                                }
                            }
                            results.append(out)
                        }
                        XCTAssertEqual(results[0].map(\.bitPattern), results[1].map(\.bitPattern),
                                       "\(dtype) n \(n) k \(k) m \(m) accumulate \(accumulate)")
                    }
                }
            }
        }
    }

    func testEveryElementTypeAndRaggedSizes() throws {
        for dtype in [DType.bf16, .f16, .f32] {
            for n in [1, 15, 16, 17, 40] {
                for k in [1, 7, 64] {
                    try check([(dtype, n)], k: k, rows: [1, 5, 6, 7, 13])
                }
            }
        }
    }

    /// A long input row makes the row blocks small (6 rows at 65536 inputs): 10 rows run as
    /// two blocks against every panel, the short remainder merged into the last block.
    func testRowBlocksOfLongInputs() throws {
        try check([(.bf16, 3)], k: 65536, rows: [10])
    }

    func testStackedAndMixedParts() throws {
        // Stacked parts whose boundaries fall inside a 16-feature panel.
        try check([(.bf16, 10), (.bf16, 13), (.bf16, 9)], k: 24, rows: [4, 12])
        let mixed = try PackedLinearWeight(stacking: [Self.weight(.bf16, n: 5, k: 8, seed: 1).0, Self.weight(.f32, n: 3, k: 8, seed: 2).0])
        XCTAssertEqual(mixed.element, .f32, "a mix of element types is packed as float32")
        try check([(.bf16, 5), (.f32, 3), (.f16, 9)], k: 8, rows: [3])
    }

    /// x = 1 against a one-column weight reads every 16-bit pattern back exactly.
    func testEverySixteenBitPatternWidensExactly() throws {
        let patterns = (0...UInt16.max).map { $0 }
        let x: [Float] = [1]
        for dtype in [DType.bf16, .f16] {
            let storage: WeightData.Storage = dtype == .bf16 ? .bf16(patterns) : .f16(patterns)
            let packed = try PackedLinearWeight(WeightData(shape: [patterns.count, 1], storage: storage))
            XCTAssertEqual(packed.element, dtype == .bf16 ? .bf16 : .f16)
            var out = [Float](repeating: 0, count: patterns.count)
            x.withPointer { xp in out.withMutablePointer { op in
                packed.apply(xp, rows: 1, rowStride: 1, out: op, outStride: patterns.count)
            } }
            for (i, bits) in patterns.enumerated() {
                let expected = dtype == .bf16 ? Float(bitPattern: UInt32(bits) << 16) : Float(bitPattern: Widening.halfToFloatBits(bits))
                if expected.isNaN {
                    XCTAssertTrue(out[i].isNaN, "\(dtype) pattern \(bits)")
                } else {
                    // 1·w + 0 turns −0 into +0; every other value comes back bit for bit.
                    XCTAssertEqual(out[i], expected, "\(dtype) pattern \(bits)")
                    if expected != 0 { XCTAssertEqual(out[i].bitPattern, expected.bitPattern, "\(dtype) pattern \(bits)") }
                }
            }
        }
    }

    func testTensorFormAndShapeErrors() throws {
        let (data, values) = try Self.weight(.bf16, n: 3, k: 4, seed: 9)
        let packed = try PackedLinearWeight(data)
        let x = try Tensor(shape: [2, 1, 4], data: (0..<8).map { Float($0) })
        let y = try packed.apply(x)
        XCTAssertEqual(y.shape, [2, 1, 3])
        let expected = Self.reference(x.data, rows: 2, rowStride: 4, values, n: 3, k: 4)
        for i in 0..<6 { XCTAssertEqual(Double(y.data[i]), expected[i], accuracy: 1e-4) }
        XCTAssertThrowsError(try packed.apply(Tensor(zeros: [2, 5])))
        XCTAssertThrowsError(try PackedLinearWeight(stacking: []))
        XCTAssertThrowsError(try PackedLinearWeight(WeightData(shape: [2, 2, 2], storage: .f32([Float](repeating: 0, count: 8)))))
        XCTAssertThrowsError(try PackedLinearWeight(stacking: [data, Self.weight(.bf16, n: 3, k: 5, seed: 1).0]))
        // Zero rows of input leave the output alone; zero input width writes zeros.
        let empty = try PackedLinearWeight(WeightData(shape: [3, 0], storage: .f32([])))
        var out: [Float] = [7, 7, 7]
        [Float]().withPointer { xp in out.withMutablePointer { op in empty.apply(xp, rows: 1, rowStride: 0, out: op, outStride: 3) } }
        XCTAssertEqual(out, [0, 0, 0])
    }
}
