import CBLAS
import CKinemaSupport
import Dispatch
import Foundation

/// Process-wide compute settings: how many threads kernels and OpenBLAS may use.
public enum Compute {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var _threads: Int = ProcessInfo.processInfo.activeProcessorCount

    /// Number of worker threads used by Kinema's kernels and by OpenBLAS.
    public static var threadCount: Int {
        lock.lock(); defer { lock.unlock() }
        return _threads
    }

    /// Sets the thread count (clamped to 1…256). Affects OpenBLAS globally.
    public static func setThreadCount(_ n: Int) {
        let clamped = min(max(n, 1), 256)
        lock.lock()
        _threads = clamped
        lock.unlock()
        openblas_set_num_threads(Int32(clamped))
    }

    /// The BLAS in use, for reports: "OpenBLAS, <kernel set> kernels, N threads", and what
    /// Kinema changed in OpenBLAS's kernel choice when it was loaded, if anything (an OpenBLAS
    /// that does not know the CPU falls back to slow SSE3 kernels; see CKinemaSupport).
    public static var blasDescription: String {
        var text = "OpenBLAS, \(blasKernels) kernels, \(openblas_get_num_threads()) threads"
        if let note = ksupport_blas_core_note() { text += " (\(String(cString: note)))" }
        return text
    }

    /// The micro-kernel of the text encoder's packed 16-bit and float32 weights
    /// (`PackedLinearWeight`) on this CPU, for reports.
    public static var textEncoderKernel: String {
        #if KINEMA_AVX2
        let swiftKernel = "AVX2"
        #else
        let swiftKernel = "portable SIMD"
        #endif
        let features = PackedLinearWeight.panelWidth
        return PackedLinearWeight.useAVX512
            ? "AVX-512 for bf16 and float32 weights (\(PackedLinearWeight.wideRowBlock) rows x \(features) features per call), "
                + "\(swiftKernel) for float16"
            : "\(swiftKernel) (\(PackedLinearWeight.rowBlock) rows x \(features) features per call)"
    }

    /// The name of the kernel set OpenBLAS runs ("Haswell", "SkylakeX", "Cooperlake", …).
    public static var blasKernels: String {
        openblas_get_corename().map { String(cString: $0) } ?? "unknown"
    }

    /// Throws when this CPU lacks the instruction sets the kernels were compiled for, so a
    /// host gets an error at model load instead of an illegal-instruction crash later.
    public static func requireSupportedCPU() throws {
        if ksupport_cpu_supported() == 0 {
            throw KinemaError.unsupported(
                "this CPU lacks AVX2/FMA, which this build of Kinema requires; rebuild with KINEMA_PORTABLE=1")
        }
    }

    /// Runs `body(chunkStart, chunkEnd)` over `0..<count`, split into at most `threadCount`
    /// contiguous chunks that run concurrently. Chunks are deterministic for a given count and
    /// thread count, so results do not depend on scheduling.
    public static func parallelChunks(_ count: Int, minChunk: Int = 1, _ body: (Int, Int) -> Void) {
        guard count > 0 else { return }
        let maxChunks = max(1, count / max(minChunk, 1))
        let chunks = min(threadCount, maxChunks)
        if chunks <= 1 {
            body(0, count)
            return
        }
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            let start = c * count / chunks
            let end = (c + 1) * count / chunks
            if start < end { body(start, end) }
        }
    }

    /// Runs `body(i)` for every `i` in `0..<count`, spread over the worker threads.
    public static func parallelFor(_ count: Int, _ body: (Int) -> Void) {
        parallelChunks(count) { s, e in
            for i in s..<e { body(i) }
        }
    }
}
