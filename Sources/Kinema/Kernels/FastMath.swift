// Vectorised elementwise math used by the kernels. Swift's `SIMD16<Float>` lowers to AVX
// registers in release builds; the scalar tail of each loop uses Foundation.

import Foundation

typealias Vec = SIMD16<Float>
let vecWidth = 16

@inline(__always)
func loadVec(_ p: UnsafePointer<Float>) -> Vec {
    UnsafeRawPointer(p).loadUnaligned(as: Vec.self)
}

@inline(__always)
func storeVec(_ v: Vec, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: Vec.self)
}

/// Lane-wise minimum / maximum. Written as compare + select because the generic
/// `pointwiseMin`/`pointwiseMax` are not always inlined and then cost ~15 ns per call.
@inline(__always)
func vmin(_ a: Vec, _ b: Vec) -> Vec { a.replacing(with: b, where: b .< a) }

@inline(__always)
func vmax(_ a: Vec, _ b: Vec) -> Vec { a.replacing(with: b, where: b .> a) }

/// exp(x) for 16 lanes, within about 2 ulp of `expf` (Cephes' expf polynomial with a
/// two-constant ln 2 range reduction). Inputs below −87.3 give exactly 0, so −∞ logits
/// (masked keys) contribute nothing.
@inline(__always)
func expVec(_ xIn: Vec) -> Vec {
    let x = vmin(vmax(xIn, Vec(repeating: -87.3)), Vec(repeating: 88.7))
    let magic = Vec(repeating: 12582912.0)  // 1.5·2²³: adding it rounds to an integer
    let shifted = x * 1.44269504088896341 + magic
    let n = shifted - magic
    var r = x - n * 0.693359375
    r = r - n * -2.12194440e-4
    var p = Vec(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    p = p * (r * r) + r + 1
    let ni = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
    let scale = unsafeBitCast((ni &+ 127) &<< 23, to: Vec.self)
    return (p * scale).replacing(with: 0, where: xIn .< -87.3)
}

/// tanh(x) = 1 − 2/(e^{2x}+1); absolute error about 1e-7, which is what GELU needs.
@inline(__always)
func tanhVec(_ x: Vec) -> Vec {
    let e = expVec(2 * x)
    return 1 - 2 / (e + 1)
}

@inline(__always)
func horizontalSum(_ v: Vec) -> Float { v.sum() }

@inline(__always)
func horizontalMax(_ v: Vec) -> Float { v.max() }
