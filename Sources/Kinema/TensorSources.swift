import Foundation

/// A view of another source under new names, for checkpoints whose naming differs from the
/// one a model expects (the original Wan release versus diffusers, prefixed repacks).
public final class RenamedTensorSource: TensorSource {
    public let base: any TensorSource
    public let names: [String]
    private let original: [String: String]

    public var url: URL { base.url }

    /// Renames every tensor of `base` with `rename`; names mapped to nil are hidden. Two names
    /// mapped to the same new name is `.corruptFile` naming both.
    public init(_ base: any TensorSource, rename: (String) throws -> String?) throws {
        var original: [String: String] = [:]
        for name in base.names {
            guard let renamed = try rename(name) else { continue }
            if let other = original[renamed] {
                throw KinemaError.corrupt("\(base.url.path): tensors '\(other)' and '\(name)' would both be named '\(renamed)'")
            }
            original[renamed] = name
        }
        self.base = base
        self.original = original
        self.names = original.keys.sorted()
    }

    public func info(_ name: String) -> SafeTensorInfo? {
        original[name].flatMap { base.info($0) }
    }

    public func tensor(_ name: String) throws -> Tensor {
        try base.tensor(try originalName(name))
    }

    public func weight(_ name: String) throws -> WeightData {
        try base.weight(try originalName(name))
    }

    private func originalName(_ name: String) throws -> String {
        guard let source = original[name] else {
            throw KinemaError(.missingComponent, "\(base.url.path): no tensor named '\(name)' after renaming")
        }
        return source
    }
}

/// Tensors held in memory under names, for tests and for weights produced in code.
public final class InMemoryTensorSource: TensorSource {
    public let url: URL
    public let names: [String]
    private let weights: [String: WeightData]

    /// Serves `weights`; `url` only labels error messages.
    public init(_ weights: [String: WeightData], url: URL = URL(fileURLWithPath: "/in-memory")) {
        self.url = url
        self.weights = weights
        self.names = weights.keys.sorted()
    }

    /// Serves float32 `tensors`.
    public convenience init(tensors: [String: Tensor], url: URL = URL(fileURLWithPath: "/in-memory")) {
        self.init(tensors.mapValues { WeightData($0) }, url: url)
    }

    public func info(_ name: String) -> SafeTensorInfo? {
        guard let weight = weights[name] else { return nil }
        return SafeTensorInfo(dtype: weight.dtype, shape: weight.shape, byteCount: weight.count * weight.dtype.byteSize)
    }

    public func tensor(_ name: String) throws -> Tensor {
        try weight(name).toTensor()
    }

    public func weight(_ name: String) throws -> WeightData {
        guard let weight = weights[name] else {
            throw KinemaError(.missingComponent, "\(url.path): no tensor named '\(name)'")
        }
        return weight
    }
}
