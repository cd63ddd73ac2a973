/// A weight tensor in its stored precision: float32, or 16-bit (IEEE half or bfloat16) kept as
/// raw bits so a large model can stay in half the memory and be widened piece by piece.
public struct WeightData: Sendable {
    /// The element storage; 16-bit values are raw bit patterns.
    public enum Storage: Sendable {
        case f32([Float])
        case f16([UInt16])
        case bf16([UInt16])
    }

    public private(set) var shape: [Int]
    public let storage: Storage

    /// Creates weight data, checking that the storage holds exactly `shape`'s element count.
    public init(shape: [Int], storage: Storage) throws {
        let count = try Tensor.elementCount(shape)
        let stored = WeightData.count(of: storage)
        guard count == stored else {
            throw KinemaError.shape("shape \(shape) needs \(count) values, storage holds \(stored)")
        }
        self.shape = shape
        self.storage = storage
    }

    /// Float32 weight data holding a tensor's values.
    public init(_ tensor: Tensor) {
        self.shape = tensor.shape
        self.storage = .f32(tensor.data)
    }

    /// Internal fast path for readers that have already validated the count.
    init(unchecked shape: [Int], storage: Storage) {
        self.shape = shape
        self.storage = storage
    }

    /// The stored element type.
    public var dtype: DType {
        switch storage {
        case .f32: return .f32
        case .f16: return .f16
        case .bf16: return .bf16
        }
    }

    /// Number of elements.
    public var count: Int { WeightData.count(of: storage) }

    /// Rows of the [shape[0], rest] matrix view (1 for a scalar).
    public var rowCount: Int { shape.first ?? 1 }

    /// Elements per row of the [shape[0], rest] matrix view.
    public var rowLength: Int {
        let rows = rowCount
        return rows == 0 ? 0 : count / rows
    }

    /// Same values with another shape of the same element count.
    public func reshaped(_ newShape: [Int]) throws -> WeightData {
        try WeightData(shape: newShape, storage: storage)
    }

    /// The values as a float32 tensor (16-bit values widened exactly).
    public func toTensor() -> Tensor {
        let n = count
        var data = [Float](repeating: 0, count: n)
        data.withMutablePointer { out in
            _ = widenRows(0..<rowCount, into: out)
        }
        return Tensor(unchecked: shape, data: data)
    }

    /// Widens rows `range` of the [shape[0], rest] matrix into `destination`, which must have
    /// room for `range.count * rowLength` floats. Rows outside `0..<rowCount` are skipped, so
    /// the range is clamped; the return value is the number of rows written.
    @discardableResult
    public func widenRows(_ range: Range<Int>, into destination: UnsafeMutablePointer<Float>) -> Int {
        let rows = range.clamped(to: 0..<rowCount)
        let length = rowLength
        let start = rows.lowerBound * length
        let n = rows.count * length
        guard n > 0 else { return rows.count }
        switch storage {
        case .f32(let values):
            values.withUnsafeBufferPointer { buffer in
                if let base = buffer.baseAddress { destination.update(from: base + start, count: n) }
            }
        case .f16(let bits):
            bits.withUnsafeBufferPointer { buffer in
                if let base = buffer.baseAddress { Widening.f16(UnsafeRawPointer(base + start), into: destination, count: n) }
            }
        case .bf16(let bits):
            bits.withUnsafeBufferPointer { buffer in
                if let base = buffer.baseAddress { Widening.bf16(UnsafeRawPointer(base + start), into: destination, count: n) }
            }
        }
        return rows.count
    }

    private static func count(of storage: Storage) -> Int {
        switch storage {
        case .f32(let values): return values.count
        case .f16(let bits), .bf16(let bits): return bits.count
        }
    }
}

// MARK: - Conversion kernels

/// Exact 16-bit → float32 conversions, written branch-free so the compiler vectorises them.
/// Sources may be unaligned (they point into memory-mapped files). Large inputs are split over
/// the compute threads; the work is memory-bound, so more threads mostly help page-in.
enum Widening {
    /// Elements below which a conversion runs on the calling thread.
    static let parallelThreshold = 1 << 18

    /// bfloat16 is the top half of a float32: shifting the bits up is exact for every value.
    static func bf16(_ source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>, count: Int) {
        split(count) { start, end in
            bf16Serial(source + 2 * start, into: destination + start, count: end - start)
        }
    }

    /// IEEE half → float32, exact for every value including subnormals, infinities and NaN
    /// payloads (the same result as the F16C instruction and torch's conversion).
    static func f16(_ source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>, count: Int) {
        split(count) { start, end in
            f16Serial(source + 2 * start, into: destination + start, count: end - start)
        }
    }

    static func bf16Serial(_ source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>, count: Int) {
        let out = UnsafeMutableRawPointer(destination).assumingMemoryBound(to: UInt32.self)
        for i in 0..<count {
            out[i] = UInt32(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)) << 16
        }
    }

    static func f16Serial(_ source: UnsafeRawPointer, into destination: UnsafeMutablePointer<Float>, count: Int) {
        let out = UnsafeMutableRawPointer(destination).assumingMemoryBound(to: UInt32.self)
        for i in 0..<count {
            out[i] = halfToFloatBits(source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
        }
    }

    /// Float32 bit pattern of an IEEE half.
    ///
    /// Moving exponent and mantissa up by 13 bits and re-biasing the exponent (15 → 127) is
    /// exact for normal numbers. Infinity and NaN (exponent 31) need the exponent pushed to 255.
    /// Zero and subnormals (exponent 0) come out with exponent 113 and are renormalised by one
    /// float subtraction of 2⁻¹⁴, which is exact because the result m·2⁻²⁴ is representable.
    @inline(__always)
    static func halfToFloatBits(_ half: UInt16) -> UInt32 {
        let h = UInt32(half)
        let sign = (h & 0x8000) << 16
        let magnitude = h & 0x7FFF
        let rebiased = (magnitude << 13) &+ 0x3800_0000
        let infOrNaN = rebiased &+ 0x3800_0000
        let subnormal = (Float(bitPattern: rebiased &+ 0x0080_0000) - Float(bitPattern: 0x3880_0000)).bitPattern
        let bits = magnitude >= 0x7C00 ? infOrNaN : (magnitude < 0x0400 ? subnormal : rebiased)
        return bits | sign
    }

    private static func split(_ count: Int, _ body: (Int, Int) -> Void) {
        if count < parallelThreshold {
            body(0, count)
        } else {
            Compute.parallelChunks(count, minChunk: parallelThreshold / 2, body)
        }
    }
}
