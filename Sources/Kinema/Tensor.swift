/// A dense, row-major float32 tensor. Value semantics (copy-on-write through `[Float]`).
///
/// Kernels work on raw buffers for speed; `Tensor` carries the shape and validates it at
/// construction so that a wrong shape coming from a file or a caller is an error, not a crash.
public struct Tensor: Sendable, Equatable {
    public private(set) var shape: [Int]
    public var data: [Float]

    /// Creates a tensor from a shape and matching data; throws when they disagree.
    public init(shape: [Int], data: [Float]) throws {
        let n = try Tensor.elementCount(shape)
        guard n == data.count else {
            throw KinemaError.shape("shape \(shape) needs \(n) values, got \(data.count)")
        }
        self.shape = shape
        self.data = data
    }

    /// A zero-filled tensor. Shapes come from code, not from input, so only the count is checked.
    public init(zeros shape: [Int]) {
        self.shape = shape
        let n = (try? Tensor.elementCount(shape)) ?? 0
        self.data = [Float](repeating: 0, count: n)
    }

    /// Internal fast path for kernels that have already computed a matching count.
    init(unchecked shape: [Int], data: [Float]) {
        self.shape = shape
        self.data = data
    }

    public var count: Int { data.count }
    public var rank: Int { shape.count }

    /// Product of the dimensions, rejecting negative sizes and overflow.
    public static func elementCount(_ shape: [Int]) throws -> Int {
        var n = 1
        for d in shape {
            guard d >= 0 else { throw KinemaError.shape("negative dimension in shape \(shape)") }
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            guard !overflow else { throw KinemaError.shape("shape \(shape) is too large") }
            n = p
        }
        return n
    }

    /// Same data, new shape with the same element count.
    public func reshaped(_ newShape: [Int]) throws -> Tensor {
        try Tensor(shape: newShape, data: data)
    }

    public mutating func reshape(_ newShape: [Int]) throws {
        let n = try Tensor.elementCount(newShape)
        guard n == data.count else {
            throw KinemaError.shape("cannot reshape \(shape) to \(newShape)")
        }
        shape = newShape
    }

    /// Largest absolute value (0 for an empty tensor).
    public var maxAbs: Float {
        var m: Float = 0
        for v in data { m = max(m, abs(v)) }
        return m
    }

    /// Largest absolute elementwise difference to another tensor of the same shape.
    public func maxAbsDifference(_ other: Tensor) throws -> Float {
        guard shape == other.shape else {
            throw KinemaError.shape("cannot compare shape \(shape) with \(other.shape)")
        }
        var m: Float = 0
        for i in 0..<data.count { m = max(m, abs(data[i] - other.data[i])) }
        return m
    }
}
