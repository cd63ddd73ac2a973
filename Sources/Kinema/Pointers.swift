// Pointer access to `[Float]` without force-unwrapping `baseAddress` (which is nil for an
// empty array). Kernels take these pointers; for an empty array the pointer is valid but
// must not be read, which every kernel guarantees by checking its counts first.

extension Array where Element == Float {
    @inline(__always)
    public func withPointer<R>(_ body: (UnsafePointer<Float>) throws -> R) rethrows -> R {
        try withUnsafeBufferPointer { bp in
            if let base = bp.baseAddress { return try body(base) }
            var placeholder: Float = 0
            return try withUnsafePointer(to: &placeholder) { try body($0) }
        }
    }

    @inline(__always)
    public mutating func withMutablePointer<R>(_ body: (UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        try withUnsafeMutableBufferPointer { bp in
            if let base = bp.baseAddress { return try body(base) }
            var placeholder: Float = 0
            return try withUnsafeMutablePointer(to: &placeholder) { try body($0) }
        }
    }
}

extension Optional where Wrapped == [Float] {
    /// Passes nil through, or a pointer to the array's storage.
    @inline(__always)
    public func withOptionalPointer<R>(_ body: (UnsafePointer<Float>?) throws -> R) rethrows -> R {
        switch self {
        case .none: return try body(nil)
        case .some(let a): return try a.withPointer { try body($0) }
        }
    }
}
