// y = x·Wᵀ for a few rows of x against a large weight kept in its stored 16-bit form.
//
// A text encoder runs a prompt of a few dozen tokens through ~11 GB of bf16 weights: every
// weight is used by only those few rows, so the work is one pass over the weights, and
// widening them to float32 first (or handing them to a float32 GEMM) would spend a memory
// round trip per element. Instead the weights are re-laid out once, at load time, into
// panels of 16 output features with the input dimension outermost, still 16 bits wide. The
// micro-kernel keeps a 6-row × 16-feature block of outputs in 12 AVX registers, widens one
// 16-feature slice of the panel per input index with two integer operations (bf16 is the
// upper half of a float32), and broadcasts the 6 inputs against it: 12 FMAs per 32 bytes of
// weights. Arithmetic is float32 throughout, so results equal a float32 GEMM on the widened
// weights up to summation order. Where the CPU has AVX-512, bf16 and float32 panels run on a C
// kernel (`ksupport_packed_panel_avx512`) that keeps 12 rows × 16 features in 512-bit registers
// and prefetches the weights; it sums in the same order and gives the same bits.

import CKinemaSupport
import Foundation

/// Eight float32 lanes: one AVX register, the unit of the micro-kernel.
typealias Lane8 = SIMD8<Float>

/// A linear layer's weight [outFeatures × inFeatures] (PyTorch layout), packed for
/// `apply`: panels of 16 output features, input index outermost within a panel.
///
/// 16-bit weights stay 16-bit: each 32-bit word of a panel holds feature j in its low half
/// and feature j + 8 in its high half, so the two halves widen to two 8-lane vectors. Float32
/// weights are stored as 16 consecutive floats per input index. A partial last panel is padded
/// with zero weights; its extra outputs are never written.
public struct PackedLinearWeight: Sendable {
    /// Element type of the packed storage.
    public enum Element: Sendable, Equatable {
        case bf16, f16, f32
    }

    /// Output features (rows of the PyTorch weight).
    public let outFeatures: Int
    /// Input features (columns of the PyTorch weight).
    public let inFeatures: Int
    public let element: Element
    let words: [UInt32]

    static let panelWidth = 16
    /// Rows of x handled per micro-kernel call (6 × 2 accumulators + 2 weight vectors + 1
    /// broadcast fit the 16 AVX registers).
    static let rowBlock = 6
    /// Rows per call of the AVX-512 kernel (`ksupport_packed_panel_avx512`: 12 accumulators of
    /// the 32 registers), which runs bf16 and float32 panels where the CPU has AVX-512F.
    static let wideRowBlock = 12
    /// Whether bf16 and float32 panels use the AVX-512 kernel: the CPU's answer, changed only by
    /// tests that compare both kernels.
    nonisolated(unsafe) static var useAVX512 = cpuHasAVX512
    static let cpuHasAVX512 = ksupport_cpu_has_avx512() != 0

    /// Whether this weight's products run on the AVX-512 kernel now (f16 panels never do).
    var usesAVX512: Bool { element != .f16 && Self.useAVX512 }
    /// Bytes of packed input rows processed against all panels before moving on.
    static let inputBlockBytes = 2 << 20

    var panelCount: Int { (outFeatures + Self.panelWidth - 1) / Self.panelWidth }
    var wordsPerStep: Int { element == .f32 ? 16 : 8 }
    var panelWords: Int { inFeatures * wordsPerStep }

    /// Bytes held by the packed weight.
    public var byteCount: Int { words.count * 4 }

    /// Packs one [out, in] weight.
    public init(_ weight: WeightData) throws {
        try self.init(stacking: [weight])
    }

    /// Packs weights that share the input dimension, stacked along the output dimension
    /// (e.g. the q, k and v projections into one [3·inner, d] weight). All parts keep their
    /// 16-bit type when they share it; a mix of element types is packed as float32.
    public init(stacking parts: [WeightData]) throws {
        guard let first = parts.first else {
            throw KinemaError.invalidArgument("PackedLinearWeight: no weights to pack")
        }
        let k = first.shape.count == 2 ? first.shape[1] : -1
        var n = 0
        for part in parts {
            guard part.shape.count == 2, part.shape[1] == k else {
                throw KinemaError.shape("PackedLinearWeight: weights \(parts.map(\.shape)) are not matrices with one input width")
            }
            n += part.shape[0]
        }
        let dtypes = Set(parts.map(\.dtype))
        let element: Element
        switch dtypes.count == 1 ? first.dtype : .f32 {
        case .bf16: element = .bf16
        case .f16: element = .f16
        case .f32: element = .f32
        }
        self.outFeatures = n
        self.inFeatures = k
        self.element = element
        let panels = (n + Self.panelWidth - 1) / Self.panelWidth
        let perStep = element == .f32 ? 16 : 8
        let (total, overflow) = (panels * perStep).multipliedReportingOverflow(by: k)
        guard !overflow else { throw KinemaError.shape("PackedLinearWeight: [\(n), \(k)] is too large") }

        var words = [UInt32](repeating: 0, count: total)
        // Float32 packing of mixed parts widens each part's rows exactly first.
        let sources = element == .f32 ? parts.map { WeightData(unchecked: $0.shape, storage: .f32($0.storage.widenedIfNeeded)) } : parts
        var rowOwner: [(part: Int, row: Int)] = []
        rowOwner.reserveCapacity(n)
        for (index, part) in sources.enumerated() {
            for r in 0..<part.shape[0] { rowOwner.append((index, r)) }
        }
        words.withUnsafeMutableBufferPointer { out in
            guard let base = out.baseAddress else { return }
            withStorageBases(sources) { bases in
                Compute.parallelChunks(panels) { start, end in
                    for p in start..<end {
                        // The 16 source rows of this panel; nil past the last feature (zeros).
                        var rows = [UnsafeRawPointer?](repeating: nil, count: 16)
                        for j in 0..<16 where p * 16 + j < n {
                            let (part, row) = rowOwner[p * 16 + j]
                            rows[j] = bases[part].map { $0 + row * k * (element == .f32 ? 4 : 2) }
                        }
                        let panel = base + p * perStep * k
                        if element == .f32 {
                            for (j, row) in rows.enumerated() {
                                guard let row else { continue }
                                let src = row.assumingMemoryBound(to: UInt32.self)
                                for i in 0..<k { panel[i * 16 + j] = src[i] }
                            }
                        } else {
                            for j in 0..<8 {
                                let lo = rows[j]?.assumingMemoryBound(to: UInt16.self)
                                let hi = rows[j + 8]?.assumingMemoryBound(to: UInt16.self)
                                switch (lo, hi) {
                                case let (lo?, hi?):
                                    for i in 0..<k { panel[i * 8 + j] = UInt32(lo[i]) | UInt32(hi[i]) << 16 }
                                case let (lo?, nil):
                                    for i in 0..<k { panel[i * 8 + j] = UInt32(lo[i]) }
                                default:
                                    break
                                }
                            }
                        }
                    }
                }
            }
        }
        self.words = words
    }

    // MARK: - Products

    /// out[r, :] = x[r, :]·Wᵀ (or += when `accumulate`), for `rows` rows of x.
    ///
    /// `x` rows are `inFeatures` long, `rowStride` apart; `out` rows are `outFeatures` long,
    /// `outStride` apart. The output features are split over the compute threads.
    /// `workspace`, when given, must hold `rows × inFeatures` floats; it saves an allocation
    /// per call for callers that run many products in a row.
    public func apply(
        _ x: UnsafePointer<Float>, rows m: Int, rowStride: Int,
        out: UnsafeMutablePointer<Float>, outStride: Int, accumulate: Bool = false,
        workspace: UnsafeMutablePointer<Float>? = nil
    ) {
        let n = outFeatures, k = inFeatures
        guard m > 0, n > 0 else { return }
        guard k > 0 else {
            if !accumulate { for r in 0..<m { (out + r * outStride).update(repeating: 0, count: n) } }
            return
        }
        // x packed per block of 6 (AVX-512: 12) rows, input index outermost: the kernel reads it
        // as one stream.
        let owned = workspace == nil ? UnsafeMutablePointer<Float>.allocate(capacity: m * k) : nil
        defer { owned?.deallocate() }
        guard let packed = workspace ?? owned else { return }
        // Read once: the packing below and the kernel must agree on the row block.
        let wide = usesAVX512
        let rowBlock = wide ? Self.wideRowBlock : Self.rowBlock
        let blocks = (m + rowBlock - 1) / rowBlock
        Compute.parallelChunks(blocks) { start, end in
            for b in start..<end {
                let r0 = b * rowBlock, mr = min(rowBlock, m - r0)
                let dst = packed + r0 * k
                for i in 0..<mr {
                    let src = x + (r0 + i) * rowStride
                    for j in 0..<k { dst[j * mr + i] = src[j] }
                }
            }
        }
        words.withUnsafeBufferPointer { buffer in
            guard let panels = buffer.baseAddress else { return }
            if wide {
                runAVX512(panels, packed, m, out, outStride, accumulate)
                return
            }
            switch element {
            case .bf16:
                run(BFloat16Pairs.self, panels, packed, m, out, outStride, accumulate)
            case .f16:
                run(Float16Pairs.self, panels, packed, m, out, outStride, accumulate)
            case .f32:
                run(Float32Panel.self, panels, packed, m, out, outStride, accumulate)
            }
        }
    }

    /// Tensor form: x is [..., inFeatures]; returns [..., outFeatures].
    public func apply(_ x: Tensor) throws -> Tensor {
        guard let k = x.shape.last, k == inFeatures else {
            throw KinemaError.shape("linear: input \(x.shape) does not match weight [\(outFeatures), \(inFeatures)]")
        }
        let m = k == 0 ? 0 : x.count / k
        var shape = x.shape
        shape[shape.count - 1] = outFeatures
        var out = [Float](repeating: 0, count: m * outFeatures)
        x.data.withPointer { xp in
            out.withMutablePointer { op in
                apply(xp, rows: m, rowStride: k, out: op, outStride: outFeatures)
            }
        }
        return Tensor(unchecked: shape, data: out)
    }

    /// Calls `body(panel, columns, r0, rows)` for every panel and block of `rowBlock` rows.
    /// Rows are taken in blocks whose packed inputs (~2 MB) stay in cache while every panel
    /// streams past them; a prompt of a few dozen tokens is a single block, so the weights are
    /// read once. Longer inputs read the weights once per block.
    @inline(__always)
    private func forEachTile(_ m: Int, rowBlock: Int, _ body: (_ panel: Int, _ columns: Int, _ r0: Int, _ rows: Int) -> Void) {
        let n = outFeatures, k = inFeatures
        let blockRows = max(rowBlock, Self.inputBlockBytes / (4 * k) / rowBlock * rowBlock)
        var m0 = 0
        while m0 < m {
            let m1 = m - m0 <= blockRows + blockRows / 2 ? m : m0 + blockRows
            PanelQueue.run(panelCount) { start, end in
                for p in start..<end {
                    let columns = min(Self.panelWidth, n - p * Self.panelWidth)
                    var r0 = m0
                    while r0 < m1 {
                        let mr = min(rowBlock, m1 - r0)
                        body(p, columns, r0, mr)
                        r0 += mr
                    }
                }
            }
            m0 = m1
        }
    }

    private func runAVX512(
        _ panels: UnsafePointer<UInt32>, _ packed: UnsafePointer<Float>, _ m: Int,
        _ out: UnsafeMutablePointer<Float>, _ outStride: Int, _ accumulate: Bool
    ) {
        let k = inFeatures, stride = panelWords, bf16: Int32 = element == .bf16 ? 1 : 0
        forEachTile(m, rowBlock: Self.wideRowBlock) { p, columns, r0, mr in
            ksupport_packed_panel_avx512(bf16, Int32(mr), packed + r0 * k, panels + p * stride, k,
                                         out + r0 * outStride + p * Self.panelWidth, outStride,
                                         Int32(columns), accumulate ? 1 : 0)
        }
    }

    private func run<D: PanelDecoding>(
        _ decoder: D.Type, _ panels: UnsafePointer<UInt32>, _ packed: UnsafePointer<Float>, _ m: Int,
        _ out: UnsafeMutablePointer<Float>, _ outStride: Int, _ accumulate: Bool
    ) {
        let k = inFeatures, stride = panelWords
        forEachTile(m, rowBlock: Self.rowBlock) { p, columns, r0, mr in
            let panel = panels + p * stride
            let xp = packed + r0 * k
            let c = out + r0 * outStride + p * Self.panelWidth
            // Constant row counts so that each call inlines a kernel without dead rows.
            switch mr {
            case 6: microKernel(D.self, rows: 6, xp, panel, k, c, outStride, columns, accumulate)
            case 5: microKernel(D.self, rows: 5, xp, panel, k, c, outStride, columns, accumulate)
            case 4: microKernel(D.self, rows: 4, xp, panel, k, c, outStride, columns, accumulate)
            case 3: microKernel(D.self, rows: 3, xp, panel, k, c, outStride, columns, accumulate)
            case 2: microKernel(D.self, rows: 2, xp, panel, k, c, outStride, columns, accumulate)
            default: microKernel(D.self, rows: 1, xp, panel, k, c, outStride, columns, accumulate)
            }
        }
    }
}

// MARK: - Work distribution

/// Hands out panels in small batches to `Compute.threadCount` workers. A static split into one
/// range per thread finishes only when the slowest thread does, which on a shared machine is
/// whichever the scheduler paused; batches let the other workers take over its share. Each
/// panel is still computed by one thread in a fixed order, so results do not depend on it.
private final class PanelQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private let count: Int
    private let batch: Int

    private init(count: Int, batch: Int) {
        self.count = count
        self.batch = batch
    }

    static func run(_ count: Int, _ body: (Int, Int) -> Void) {
        let workers = min(Compute.threadCount, count)
        guard workers > 1 else {
            if count > 0 { body(0, count) }
            return
        }
        // About 16 batches per worker.
        let queue = PanelQueue(count: count, batch: max(1, count / (16 * workers)))
        Compute.parallelChunks(workers) { _, _ in
            while let range = queue.take() { body(range.lowerBound, range.upperBound) }
        }
    }

    private func take() -> Range<Int>? {
        lock.lock()
        defer { lock.unlock() }
        guard next < count else { return nil }
        let start = next
        next = min(count, start + batch)
        return start..<next
    }
}

// MARK: - Micro-kernel

/// C[mr × 16] (+)= X[mr × k] · P[k × 16], X packed input-major (`x[i·mr + r]`), P one panel.
@inline(__always)
private func microKernel<D: PanelDecoding>(
    _ decoder: D.Type, rows mr: Int,
    _ x: UnsafePointer<Float>, _ panel: UnsafePointer<UInt32>, _ k: Int,
    _ c: UnsafeMutablePointer<Float>, _ ldc: Int, _ columns: Int, _ accumulate: Bool
) {
    var c00 = Lane8(), c01 = Lane8(), c10 = Lane8(), c11 = Lane8(), c20 = Lane8(), c21 = Lane8()
    var c30 = Lane8(), c31 = Lane8(), c40 = Lane8(), c41 = Lane8(), c50 = Lane8(), c51 = Lane8()
    var xi = x
    var pi = panel
    for _ in 0..<k {
        let (b0, b1) = D.decode(pi)
        var a = Lane8(repeating: xi[0])
        c00 = c00.addingProduct(a, b0); c01 = c01.addingProduct(a, b1)
        if mr > 1 { a = Lane8(repeating: xi[1]); c10 = c10.addingProduct(a, b0); c11 = c11.addingProduct(a, b1) }
        if mr > 2 { a = Lane8(repeating: xi[2]); c20 = c20.addingProduct(a, b0); c21 = c21.addingProduct(a, b1) }
        if mr > 3 { a = Lane8(repeating: xi[3]); c30 = c30.addingProduct(a, b0); c31 = c31.addingProduct(a, b1) }
        if mr > 4 { a = Lane8(repeating: xi[4]); c40 = c40.addingProduct(a, b0); c41 = c41.addingProduct(a, b1) }
        if mr > 5 { a = Lane8(repeating: xi[5]); c50 = c50.addingProduct(a, b0); c51 = c51.addingProduct(a, b1) }
        xi += mr
        pi += D.wordsPerStep
    }
    storeRow(c00, c01, c, columns, accumulate)
    if mr > 1 { storeRow(c10, c11, c + ldc, columns, accumulate) }
    if mr > 2 { storeRow(c20, c21, c + 2 * ldc, columns, accumulate) }
    if mr > 3 { storeRow(c30, c31, c + 3 * ldc, columns, accumulate) }
    if mr > 4 { storeRow(c40, c41, c + 4 * ldc, columns, accumulate) }
    if mr > 5 { storeRow(c50, c51, c + 5 * ldc, columns, accumulate) }
}

@inline(__always)
private func storeRow(_ lo: Lane8, _ hi: Lane8, _ dst: UnsafeMutablePointer<Float>, _ columns: Int, _ accumulate: Bool) {
    if columns == 16 {
        let raw = UnsafeMutableRawPointer(dst)
        if accumulate {
            raw.storeBytes(of: raw.loadUnaligned(as: Lane8.self) + lo, as: Lane8.self)
            raw.storeBytes(of: raw.loadUnaligned(fromByteOffset: 32, as: Lane8.self) + hi, toByteOffset: 32, as: Lane8.self)
        } else {
            raw.storeBytes(of: lo, as: Lane8.self)
            raw.storeBytes(of: hi, toByteOffset: 32, as: Lane8.self)
        }
        return
    }
    for j in 0..<columns {
        let v = j < 8 ? lo[j] : hi[j - 8]
        dst[j] = accumulate ? dst[j] + v : v
    }
}

// MARK: - Panel decoding

/// Turns one input index of a panel into the 16 feature weights as two float32 vectors.
private protocol PanelDecoding {
    static var wordsPerStep: Int { get }
    static func decode(_ p: UnsafePointer<UInt32>) -> (Lane8, Lane8)
}

/// bf16 pairs: shifting the low half up, or masking off the low half, is the exact float32.
private enum BFloat16Pairs: PanelDecoding {
    static var wordsPerStep: Int { 8 }
    @inline(__always)
    static func decode(_ p: UnsafePointer<UInt32>) -> (Lane8, Lane8) {
        let w = UnsafeRawPointer(p).loadUnaligned(as: SIMD8<UInt32>.self)
        return (unsafeBitCast(w &<< 16, to: Lane8.self), unsafeBitCast(w & 0xFFFF_0000, to: Lane8.self))
    }
}

/// IEEE-half pairs, widened exactly (the same values as `Widening.halfToFloatBits`) with
/// integer and float arithmetic only: Swift's SIMD comparisons and selects are not inlined
/// and would make this path a hundred times slower.
private enum Float16Pairs: PanelDecoding {
    static var wordsPerStep: Int { 8 }
    @inline(__always)
    static func decode(_ p: UnsafePointer<UInt32>) -> (Lane8, Lane8) {
        let w = UnsafeRawPointer(p).loadUnaligned(as: SIMD8<UInt32>.self)
        return (widen(w & 0xFFFF), widen(w &>> 16))
    }

    /// Exponent and mantissa moved up 13 bits read as a float32 are the half's value times
    /// 2⁻¹¹²; multiplying by 2¹¹² is exact for normal and subnormal halves alike. Infinity and
    /// NaN (magnitude ≥ 0x7C00, i.e. magnitude + 0x400 reaching bit 15) get the all-ones
    /// exponent OR-ed in, keeping the NaN payload.
    @inline(__always)
    static func widen(_ h: SIMD8<UInt32>) -> Lane8 {
        let sign = (h & 0x8000) &<< 16
        let magnitude = h & 0x7FFF
        let scaled = unsafeBitCast(magnitude &<< 13, to: Lane8.self) * Lane8(repeating: 0x1p112)
        let infOrNaN = (0 &- ((magnitude &+ 0x400) &>> 15)) & 0x7F80_0000
        return unsafeBitCast(unsafeBitCast(scaled, to: SIMD8<UInt32>.self) | infOrNaN | sign, to: Lane8.self)
    }
}

/// Float32 panels: 16 consecutive floats per input index.
private enum Float32Panel: PanelDecoding {
    static var wordsPerStep: Int { 16 }
    @inline(__always)
    static func decode(_ p: UnsafePointer<UInt32>) -> (Lane8, Lane8) {
        let raw = UnsafeRawPointer(p)
        return (raw.loadUnaligned(as: Lane8.self), raw.loadUnaligned(fromByteOffset: 32, as: Lane8.self))
    }
}

// MARK: - Packing helpers

extension WeightData.Storage {
    /// The values as float32 bit patterns (16-bit values widened exactly).
    fileprivate var widenedIfNeeded: [Float] {
        switch self {
        case .f32(let values): return values
        case .bf16(let bits): return bits.map { Float(bitPattern: UInt32($0) << 16) }
        case .f16(let bits): return bits.map { Float(bitPattern: Widening.halfToFloatBits($0)) }
        }
    }
}

/// Calls `body` with the base address of every part's storage (nil for an empty part, which
/// has no rows to read).
private func withStorageBases<R>(_ parts: [WeightData], _ body: ([UnsafeRawPointer?]) -> R) -> R {
    func recurse(_ index: Int, _ bases: [UnsafeRawPointer?]) -> R {
        guard index < parts.count else { return body(bases) }
        switch parts[index].storage {
        case .f32(let values): return values.withUnsafeBytes { recurse(index + 1, bases + [$0.baseAddress]) }
        case .f16(let bits), .bf16(let bits): return bits.withUnsafeBytes { recurse(index + 1, bases + [$0.baseAddress]) }
        }
    }
    return recurse(0, [])
}
