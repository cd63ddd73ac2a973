import Foundation

/// Tensors made on demand by a closure instead of read from a file: randomly initialised models
/// for benchmarks and tests. Nothing is kept after a tensor is handed out, so a model loaded
/// from it holds the only copy of its weights.
public final class GeneratedTensorSource: TensorSource, @unchecked Sendable {
    public let url: URL
    public let names: [String]
    private let entries: [String: (dtype: DType, shape: [Int])]
    private let make: @Sendable (_ name: String, _ dtype: DType, _ shape: [Int]) throws -> WeightData

    /// `make` must return data of the declared type and shape; anything else is an error when
    /// the tensor is requested.
    public init(label: String, entries: [String: (dtype: DType, shape: [Int])],
                make: @escaping @Sendable (_ name: String, _ dtype: DType, _ shape: [Int]) throws -> WeightData) throws {
        for entry in entries.values { _ = try Tensor.elementCount(entry.shape) }
        self.url = URL(fileURLWithPath: label)
        self.names = entries.keys.sorted()
        self.entries = entries
        self.make = make
    }

    public func info(_ name: String) -> SafeTensorInfo? {
        guard let entry = entries[name], let count = try? Tensor.elementCount(entry.shape) else { return nil }
        return SafeTensorInfo(dtype: entry.dtype, shape: entry.shape, byteCount: count * entry.dtype.byteSize)
    }

    public func weight(_ name: String) throws -> WeightData {
        guard let entry = entries[name] else {
            throw KinemaError(.missingComponent, "\(url.path): no tensor named '\(name)'")
        }
        let w = try make(name, entry.dtype, entry.shape)
        guard w.shape == entry.shape, w.dtype == entry.dtype else {
            throw KinemaError(.internalError, "\(url.path): generated '\(name)' is \(w.dtype) \(w.shape), declared \(entry.dtype) \(entry.shape)")
        }
        return w
    }

    public func tensor(_ name: String) throws -> Tensor {
        try weight(name).toTensor()
    }
}
