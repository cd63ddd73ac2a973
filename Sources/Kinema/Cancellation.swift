import Foundation

/// A thread-safe cancellation flag shared between a caller and a running job. Model code
/// calls `check()` at fine-grained points (at least once per transformer block, per VAE
/// frame, per text-encoder layer), so a cancel never waits for a whole step.
public final class CancellationToken: @unchecked Sendable {
    private let lock = NSLock()
    private var cancelled = false

    public init() {}

    /// Requests cancellation; returns at once. Safe from any thread, any number of times.
    public func cancel() {
        lock.lock(); cancelled = true; lock.unlock()
    }

    public var isCancelled: Bool {
        lock.lock(); defer { lock.unlock() }
        return cancelled
    }

    /// Throws `KinemaError.cancelled` once cancellation was requested.
    public func check() throws {
        if isCancelled { throw KinemaError.cancelled }
    }
}
