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
