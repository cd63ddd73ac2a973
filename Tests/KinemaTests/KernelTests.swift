import XCTest
@testable import Kinema

/// Kernels against PyTorch float32 values (tools/reference/make_kernel_fixtures.py).
/// Tolerances are absolute and sized to float32 rounding of each operation.
final class KernelTests: XCTestCase {
    var fixture: SafeTensorsFile!

    override func setUpWithError() throws {
        fixture = try SafeTensorsFile(url: fixtureURL("kernels/kernels.safetensors"))
    }

    func t(_ name: String) throws -> Tensor { try fixture.tensor(name) }

    func testActivations() throws {
        let x = try t("act.x")
        assertClose(x.geluTanh(), try t("act.gelu_tanh"), tolerance: 2e-6, "gelu tanh")
        assertClose(x.geluErf(), try t("act.gelu_erf"), tolerance: 2e-6, "gelu erf")
        assertClose(x.silu(), try t("act.silu"), tolerance: 2e-6, "silu")
        assertClose(x.softmaxLastDim(), try t("act.softmax"), tolerance: 1e-7, "softmax")
    }

    func testNorms() throws {
        let x = try t("ln.x"), w = try t("ln.w"), b = try t("ln.b")
        assertClose(try x.layerNorm(weight: w, bias: b, eps: 1e-6), try t("ln.affine"), tolerance: 5e-6, "affine LN")
        assertClose(try x.layerNorm(weight: nil, bias: nil, eps: 1e-6), try t("ln.plain"), tolerance: 5e-6, "plain LN")
        assertClose(try x.rmsNorm(weight: w, eps: 1e-6), try t("rms.t5"), tolerance: 5e-6, "T5 RMSNorm")
        let xc = try t("crms.x")
        assertClose(try xc.channelRMSNorm(gamma: try t("crms.gamma")), try t("crms.out"), tolerance: 5e-6, "VAE RMS")
    }

    func testRoPEInterleaved() throws {
        let out = try t("rope.x").rotaryInterleaved(cos: try t("rope.cos"), sin: try t("rope.sin"))
        assertClose(out, try t("rope.out"), tolerance: 2e-6, "rope")
    }

    /// 2 heads × 16, 260 queries × 2200 keys: two query blocks and two key blocks, so the
    /// streaming softmax's rescaling path is exercised.
    func testStreamingAttention() throws {
        let q = try t("attn.q"), k = try t("attn.k"), v = try t("attn.v")
        assertClose(try Tensor.attention(q: q, k: k, v: v, heads: 2), try t("attn.out"), tolerance: 2e-6, "attention")
        let withBias = try Tensor.attention(q: q, k: k, v: v, heads: 2, keyBias: try t("attn.key_bias"))
        assertClose(withBias, try t("attn.out_key_bias"), tolerance: 2e-6, "attention + key bias")
        let lb = try Tensor.attention(q: try t("attn2.q"), k: try t("attn2.k"), v: try t("attn2.v"), heads: 2,
                                      scale: 1, logitBias: try t("attn2.logit_bias"))
        assertClose(lb, try t("attn2.out_unscaled"), tolerance: 2e-6, "unscaled attention + logit bias")
    }

    /// A cancel request stops the attention between blocks.
    func testAttentionCancels() throws {
        let q = try t("attn.q"), k = try t("attn.k"), v = try t("attn.v")
        var out = [Float](repeating: 0, count: q.count)
        var polls = 0
        let finished = q.data.withPointer { qp in k.data.withPointer { kp in v.data.withPointer { vp in
            out.withMutablePointer { op in
                Attention.multiHead(q: qp, qStride: 32, k: kp, kStride: 32, v: vp, vStride: 32, out: op, outStride: 32,
                                    queries: 260, keys: 2200, heads: 2, headDim: 16, scale: 0.25,
                                    shouldCancel: { polls += 1; return polls > 1 })
            }
        } } }
        XCTAssertFalse(finished)
        XCTAssertEqual(polls, 2)
    }

    func testConvolutions() throws {
        let x = try t("conv3d.x"), b = try t("conv3d.b")
        let causal = Conv3dGeometry.causal(inChannels: 3, outChannels: 5, kernel: (3, 3, 3), padding: (1, 1, 1))
        assertClose(try x.conv3d(weight: try t("conv3d.w"), bias: b, geometry: causal), try t("conv3d.causal"),
                    tolerance: 2e-5, "causal conv3d")
        let pw = Conv3dGeometry(inChannels: 3, outChannels: 6, kernel: (1, 1, 1))
        let pointwiseBias = try Tensor(shape: [6], data: [Float](repeating: 0.25, count: 6))
        assertClose(try x.conv3d(weight: try t("conv3d.w1"), bias: pointwiseBias, geometry: pw),
                    try t("conv3d.pointwise"), tolerance: 2e-5, "1x1x1 conv3d")
        let ts = Conv3dGeometry(inChannels: 3, outChannels: 4, kernel: (3, 1, 1), stride: (2, 1, 1))
        assertClose(try x.conv3d(weight: try t("conv3d.wt"), bias: nil, geometry: ts), try t("conv3d.time_stride2"),
                    tolerance: 2e-5, "temporal stride-2 conv3d")
        let x2 = try t("conv2d.x"), w2 = try t("conv2d.w"), b2 = try t("conv2d.b")
        assertClose(try x2.conv2d(weight: w2, bias: b2, padding: (1, 1, 1, 1)), try t("conv2d.same"),
                    tolerance: 2e-5, "conv2d pad 1")
        assertClose(try x2.conv2d(weight: w2, bias: b2, stride: 2, padding: (0, 1, 0, 1)), try t("conv2d.down"),
                    tolerance: 2e-5, "conv2d stride 2, right/bottom pad")
    }

    func testConvolutionRejectsBadShapes() throws {
        let x = try t("conv3d.x")
        let wrong = Conv3dGeometry.causal(inChannels: 4, outChannels: 5, kernel: (3, 3, 3), padding: (1, 1, 1))
        XCTAssertThrowsError(try x.conv3d(weight: try t("conv3d.w"), bias: nil, geometry: wrong))
        let tooBig = Conv3dGeometry(inChannels: 3, outChannels: 5, kernel: (3, 30, 3))
        XCTAssertThrowsError(try x.conv3d(weight: Tensor(zeros: [5, 3, 3, 30, 3]), bias: nil, geometry: tooBig))
    }

    func testResampling() throws {
        assertClose(try t("up.x").upsampleNearest2x(), try t("up.nearest_exact"), tolerance: 0, "nearest x2")
        assertClose(try t("shuffle.x").pixelUnshuffle(2), try t("shuffle.unshuffle2"), tolerance: 0, "unshuffle")
        assertClose(try t("shuffle.y").pixelShuffle(2), try t("shuffle.shuffle2"), tolerance: 0, "shuffle")
        XCTAssertThrowsError(try t("shuffle.x").pixelUnshuffle(4))
    }

    /// The multi-threaded kernels give the same bits for the same thread count, run twice.
    func testDeterministicForFixedThreadCount() throws {
        let q = try t("attn.q"), k = try t("attn.k"), v = try t("attn.v")
        let a = try Tensor.attention(q: q, k: k, v: v, heads: 2)
        let b = try Tensor.attention(q: q, k: k, v: v, heads: 2)
        XCTAssertEqual(a.data, b.data)
    }
}
