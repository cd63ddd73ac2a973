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
        var length = 1
        for dimension in shape.dropFirst() {
            let (product, overflow) = length.multipliedReportingOverflow(by: dimension)
            if overflow { return 0 }  // only possible for an empty tensor with absurd trailing sizes
            length = product
        }
        return length
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
    /// room for `range.count * rowLength` floats. The range is clamped to `0..<rowCount` and the
    /// rows that remain are written contiguously from `destination`; returns how many.
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
