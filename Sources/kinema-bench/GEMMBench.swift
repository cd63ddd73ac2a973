import Foundation
import Kinema

/// GEMM rate for the Wan2.1-1.3B linear layers: Kinema's `linear` (x·Wᵀ + b) beside a plain
/// cblas_sgemm of the same shape.
func runGEMMBench(_ args: [String]) throws {
    let runs = Int(option("--runs", in: args) ?? "5") ?? 5
    if let t = option("--threads", in: args).flatMap(Int.init) { Compute.setThreadCount(t) }
    let shapes: [(String, Int, Int, Int)] = [
        ("ffn up    1280x1536 · 1536x8960", 1280, 1536, 8960),
        ("ffn down  1280x8960 · 8960x1536", 1280, 8960, 1536),
        ("attn qkvo 1280x1536 · 1536x1536", 1280, 1536, 1536),
        ("text kv   512x1536 · 1536x1536", 512, 1536, 1536),
    ]
    print("threads: \(Compute.threadCount), runs: \(runs) (median)")
    print("shape                              kinema GFLOP/s   sgemm GFLOP/s   ratio")
    for (name, m, k, n) in shapes {
        let x = randomArray(m * k, seed: 1), w = randomArray(n * k, seed: 2), b = randomArray(n, seed: 3)
        var out = [Float](repeating: 0, count: m * n)
        let flops = 2.0 * Double(m) * Double(n) * Double(k)
        let tk = medianSeconds(runs: runs) {
            x.withPointer { xp in w.withPointer { wp in b.withPointer { bp in out.withMutablePointer { op in
                GEMM.linear(x: xp, m: m, k: k, weight: wp, n: n, bias: bp, out: op)
            } } } }
        }
        let tr = medianSeconds(runs: runs) {
            x.withPointer { xp in w.withPointer { wp in out.withMutablePointer { op in
                GEMM.sgemm(transB: true, m: m, n: n, k: k, a: xp, lda: k, b: wp, ldb: k, c: op, ldc: n)
            } } }
        }
        let gk = flops / tk / 1e9, gr = flops / tr / 1e9
        print(String(format: "%-34@ %10.1f %15.1f %9.2f", name as NSString, gk, gr, gk / gr))
    }
}

/// Attention rate (4·L²·H·D flop per call: Q·Kᵀ and P·V) for Wan2.1-1.3B self-attention at
/// 12 heads × 128, beside the raw sgemm rate for the same two products done as one batch of
/// plain matrix multiplies without any softmax.
func runAttentionBench(_ args: [String]) throws {
    let runs = Int(option("--runs", in: args) ?? "3") ?? 3
    if let t = option("--threads", in: args).flatMap(Int.init) { Compute.setThreadCount(t) }
    let tokenCounts = (option("--tokens", in: args) ?? "1280,8192").split(separator: ",").compactMap { Int($0) }
    let heads = 12, d = 128, width = heads * d
    print("threads: \(Compute.threadCount), runs: \(runs) (median)")
    print("tokens  heads×dim   attention GFLOP/s   sgemm GFLOP/s   ratio   seconds")
    for l in tokenCounts {
        let q = randomArray(l * width, seed: 4), k = randomArray(l * width, seed: 5), v = randomArray(l * width, seed: 6)
        var out = [Float](repeating: 0, count: l * width)
        let flops = 4.0 * Double(l) * Double(l) * Double(width)
        let ta = medianSeconds(runs: runs) {
            q.withPointer { qp in k.withPointer { kp in v.withPointer { vp in out.withMutablePointer { op in
                _ = Attention.multiHead(q: qp, qStride: width, k: kp, kStride: width, v: vp, vStride: width,
                                        out: op, outStride: width, queries: l, keys: l, heads: heads, headDim: d,
                                        scale: 1 / Float(d).squareRoot())
            } } } }
        }
        // Raw reference: the same two products per head and query block, as plain sgemm.
        let bq = 256, bk = min(2048, l)
        var s = [Float](repeating: 0, count: bq * bk)
        var acc = [Float](repeating: 0, count: bq * d)
        let tr = medianSeconds(runs: runs) {
            q.withPointer { qp in k.withPointer { kp in v.withPointer { vp in s.withMutablePointer { sp in acc.withMutablePointer { ap in
                for h in 0..<heads {
                    var q0 = 0
                    while q0 < l {
                        let nq = min(bq, l - q0)
                        var k0 = 0
                        while k0 < l {
                            let nk = min(bk, l - k0)
                            GEMM.sgemm(transB: true, m: nq, n: nk, k: d, a: qp + q0 * width + h * d, lda: width,
                                       b: kp + k0 * width + h * d, ldb: width, c: sp, ldc: nk)
                            GEMM.sgemm(m: nq, n: d, k: nk, a: sp, lda: nk, b: vp + k0 * width + h * d, ldb: width,
                                       beta: 1, c: ap, ldc: d)
                            k0 += nk
                        }
                        q0 += nq
                    }
                }
            } } } } }
        }
        let ga = flops / ta / 1e9, gr = flops / tr / 1e9
        print(String(format: "%6d  %2d×%d %17.1f %15.1f %7.2f %9.3f", l, heads, d, ga, gr, ga / gr, ta))
    }
}
