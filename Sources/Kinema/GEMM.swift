import CBLAS

/// Matrix products on OpenBLAS. All matrices are row-major.
public enum GEMM {
    /// C[m×n] = alpha · op(A) · op(B) + beta · C, with op = transpose when asked.
    /// `lda`, `ldb`, `ldc` are the row strides of the matrices as stored.
    @inline(__always)
    public static func sgemm(
        transA: Bool = false, transB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1,
        a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0,
        c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        guard m > 0, n > 0 else { return }
        cblas_sgemm(
            CblasRowMajor,
            transA ? CblasTrans : CblasNoTrans,
            transB ? CblasTrans : CblasNoTrans,
            Int32(m), Int32(n), Int32(k),
            alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// y[m×n] = x[m×k] · Wᵀ + bias, the layout of PyTorch `Linear` weights (`W` is [n×k]).
    public static func linear(
        x: UnsafePointer<Float>, m: Int, k: Int,
        weight: UnsafePointer<Float>, n: Int,
        bias: UnsafePointer<Float>?,
        out: UnsafeMutablePointer<Float>
    ) {
        guard m > 0, n > 0 else { return }
        guard k > 0 else {
            for r in 0..<m {
                if let bias { (out + r * n).update(from: bias, count: n) } else { (out + r * n).update(repeating: 0, count: n) }
            }
            return
        }
        if let bias {
            for r in 0..<m { (out + r * n).update(from: bias, count: n) }
            sgemm(transB: true, m: m, n: n, k: k, a: x, lda: k, b: weight, ldb: k, beta: 1, c: out, ldc: n)
        } else {
            sgemm(transB: true, m: m, n: n, k: k, a: x, lda: k, b: weight, ldb: k, beta: 0, c: out, ldc: n)
        }
    }

    /// Tensor form of `linear`: x is [..., k], weight [n, k], bias [n]; returns [..., n].
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor?) throws -> Tensor {
        guard weight.rank == 2, let k = x.shape.last, weight.shape[1] == k else {
            throw KinemaError.shape("linear: input \(x.shape) does not match weight \(weight.shape)")
        }
        let n = weight.shape[0]
        if let bias, bias.count != n {
            throw KinemaError.shape("linear: bias \(bias.shape) does not match weight \(weight.shape)")
        }
        let m = k == 0 ? 0 : x.count / k
        var outShape = x.shape
        outShape[outShape.count - 1] = n
        var out = [Float](repeating: 0, count: m * n)
        x.data.withPointer { xp in
            weight.data.withPointer { wp in
                (bias?.data).withOptionalPointer { bp in
                    out.withMutablePointer { op in
                        linear(x: xp, m: m, k: k, weight: wp, n: n, bias: bp, out: op)
                    }
                }
            }
        }
        return Tensor(unchecked: outShape, data: out)
    }
}
