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
