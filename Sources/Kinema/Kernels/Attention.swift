import Foundation

/// Multi-head softmax attention with a streaming ("flash"-style) softmax: keys are consumed
/// in blocks with a running maximum and sum per query, so memory is O(query block × key
/// block) and never O(queries × keys). The two products of every block run on OpenBLAS.
public enum Attention {
    /// Block sizes: key blocks of up to 2048 keys; query blocks of at least 256 rows, grown
    /// until the logits block reaches `scoreBudget` floats (8 MB). Every block costs two
    /// multi-threaded sgemm calls and one parallel softmax pass, each a point where all threads
    /// meet, so fewer, larger blocks run better on a busy machine; with up to ~1600 keys (a
    /// 1.3B-model latent, or cross-attention to text) all queries of a head form one block.
    static let queryBlock = 256
    static let keyBlock = 2048
    static let scoreBudget = 1 << 21

    /// Query rows per block for `lq` queries against key blocks of `bk` keys.
    static func queryBlockRows(queries lq: Int, keyBlock bk: Int) -> Int {
        min(lq, max(queryBlock, scoreBudget / max(bk, 1)))
    }

    /// Computes softmax(scale·Q·Kᵀ + bias)·V for every head.
    ///
    /// Layout: token-major rows; head `h` of a row occupies `[h·headDim, (h+1)·headDim)`.
    /// `qStride`, `kStride`, `vStride`, `outStride` are the distances (in floats) between
    /// consecutive tokens, so Q, K and V can be slices of one fused projection.
    /// - `keyBias`: optional additive logit per key, shared by all heads and queries (e.g. −∞ to
    ///   mask a key, or ln(n) to count one key n times).
    /// - `logitBias`: optional additive logits [heads × queries × keys] (relative position bias).
    /// - `shouldCancel`: polled between blocks; when it returns true the call stops early and
    ///   returns false, leaving `out` partially written.
    @discardableResult
    public static func multiHead(
        q: UnsafePointer<Float>, qStride: Int,
        k: UnsafePointer<Float>, kStride: Int,
        v: UnsafePointer<Float>, vStride: Int,
        out: UnsafeMutablePointer<Float>, outStride: Int,
        queries lq: Int, keys lk: Int, heads: Int, headDim d: Int,
        scale: Float,
        keyBias: UnsafePointer<Float>? = nil,
        logitBias: UnsafePointer<Float>? = nil,
        shouldCancel: (() -> Bool)? = nil
    ) -> Bool {
        guard lq > 0, heads > 0, d > 0 else { return true }
        guard lk > 0 else {
            for i in 0..<lq { (out + i * outStride).update(repeating: 0, count: heads * d) }
            return true
        }
        let bk = min(keyBlock, lk)
        let bq = queryBlockRows(queries: lq, keyBlock: bk)
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: bq * bk)
        let acc = UnsafeMutablePointer<Float>.allocate(capacity: bq * d)
        let rowMax = UnsafeMutablePointer<Float>.allocate(capacity: bq)
        let rowSum = UnsafeMutablePointer<Float>.allocate(capacity: bq)
        defer {
            scores.deallocate(); acc.deallocate(); rowMax.deallocate(); rowSum.deallocate()
        }

        for h in 0..<heads {
            var q0 = 0
            while q0 < lq {
                if let shouldCancel, shouldCancel() { return false }
                let nq = min(bq, lq - q0)
                let qp = q + q0 * qStride + h * d
                rowMax.update(repeating: -Float.infinity, count: nq)
                rowSum.update(repeating: 0, count: nq)
                acc.update(repeating: 0, count: nq * d)
                var k0 = 0
                while k0 < lk {
                    let nk = min(bk, lk - k0)
                    // S = scale · Q_blk · K_blkᵀ
                    GEMM.sgemm(transB: true, m: nq, n: nk, k: d, alpha: scale,
                               a: qp, lda: qStride, b: k + k0 * kStride + h * d, ldb: kStride,
                               beta: 0, c: scores, ldc: nk)
                    let lb = logitBias.map { $0 + (h * lq + q0) * lk + k0 }
                    let kb = keyBias.map { $0 + k0 }
                    Compute.parallelChunks(nq, minChunk: 16) { s, e in
                        for r in s..<e {
                            updateRow(scores + r * nk, count: nk,
                                      keyBias: kb, logitBias: lb.map { $0 + r * lk },
                                      runningMax: rowMax + r, runningSum: rowSum + r,
                                      acc: acc + r * d, headDim: d)
                        }
                    }
                    // acc += P · V_blk
                    GEMM.sgemm(m: nq, n: d, k: nk, a: scores, lda: nk,
                               b: v + k0 * vStride + h * d, ldb: vStride,
                               beta: 1, c: acc, ldc: d)
                    k0 += nk
                }
                for r in 0..<nq {
                    let dst = out + (q0 + r) * outStride + h * d
                    let src = acc + r * d
                    let inv: Float = rowSum[r] > 0 ? 1 / rowSum[r] : 0
                    for j in 0..<d { dst[j] = src[j] * inv }
                }
                q0 += nq
            }
        }
        return true
    }

    /// Online-softmax update of one query row for one key block: adds the biases, rescales the
    /// running accumulator when the maximum grows, and leaves exp(s − max) in `s`.
    @inline(__always)
    static func updateRow(
        _ s: UnsafeMutablePointer<Float>, count n: Int,
        keyBias: UnsafePointer<Float>?, logitBias: UnsafePointer<Float>?,
        runningMax: UnsafeMutablePointer<Float>, runningSum: UnsafeMutablePointer<Float>,
        acc: UnsafeMutablePointer<Float>, headDim d: Int
    ) {
        if let keyBias { for j in 0..<n { s[j] += keyBias[j] } }
        if let logitBias { for j in 0..<n { s[j] += logitBias[j] } }
        var m = -Float.infinity
        var j = 0
        var mv = Vec(repeating: -Float.infinity)
        while j + vecWidth <= n { mv = vmax(mv, loadVec(s + j)); j += vecWidth }
        m = mv.max()
        while j < n { m = max(m, s[j]); j += 1 }
        let oldMax = runningMax.pointee
        let newMax = max(oldMax, m)
        if newMax == -Float.infinity {
            // Every key so far is masked: contribute nothing.
            s.update(repeating: 0, count: n)
            return
        }
        if oldMax != newMax && oldMax != -Float.infinity {
            let correction = expf(oldMax - newMax)
            runningSum.pointee *= correction
            for i in 0..<d { acc[i] *= correction }
        }
        runningMax.pointee = newMax
        runningSum.pointee += Activation.expSubtractAndSum(s, count: n, subtract: newMax)
    }
}

extension Tensor {
    /// Attention on [tokens, heads·headDim] tensors (q: [Lq, H·D], k and v: [Lk, H·D]).
    public static func attention(q: Tensor, k: Tensor, v: Tensor, heads: Int, scale: Float? = nil,
                                 keyBias: Tensor? = nil, logitBias: Tensor? = nil) throws -> Tensor {
        guard q.rank == 2, k.rank == 2, v.rank == 2, heads > 0,
              q.shape[1] == k.shape[1], k.shape == v.shape, q.shape[1] % heads == 0 else {
            throw KinemaError.shape("attention: q \(q.shape), k \(k.shape), v \(v.shape), heads \(heads) do not fit")
        }
        let lq = q.shape[0], lk = k.shape[0], width = q.shape[1], d = width / heads
        try checkVector(keyBias, lk, "attention key bias")
        try checkVector(logitBias, heads * lq * lk, "attention logit bias")
        var out = Tensor(zeros: [lq, width])
        _ = q.data.withPointer { qp in k.data.withPointer { kp in v.data.withPointer { vp in
            (keyBias?.data).withOptionalPointer { kb in (logitBias?.data).withOptionalPointer { lb in
                out.data.withMutablePointer { op in
                    Attention.multiHead(q: qp, qStride: width, k: kp, kStride: width, v: vp, vStride: width,
                                        out: op, outStride: width, queries: lq, keys: lk, heads: heads, headDim: d,
                                        scale: scale ?? 1 / Float(d).squareRoot(), keyBias: kb, logitBias: lb)
                }
            } }
        } } }
        return out
    }
}
