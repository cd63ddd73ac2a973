import Foundation
import XCTest
@testable import Kinema

/// Wan VAE kernels and model.
final class WanVAETests: XCTestCase {
    // MARK: - Frame convolution kernel

    /// Plain loops: conv over a virtual input (window of a source, optional nearest ×2).
    private func referenceFrameConv(_ x: [Float], _ g: FrameConvolution, _ weight: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: g.outChannels * g.outputHeight * g.outputWidth)
        for co in 0..<g.outChannels {
            for oy in 0..<g.outputHeight {
                for ox in 0..<g.outputWidth {
                    var s: Float = 0
                    for c in 0..<g.inChannels {
                        for dy in 0..<g.kernelHeight {
                            for dx in 0..<g.kernelWidth {
                                let iy = oy * g.strideHeight + dy - g.padTop, ix = ox * g.strideWidth + dx - g.padLeft
                                guard iy >= 0, iy < g.inputHeight, ix >= 0, ix < g.inputWidth else { continue }
                                let v = x[c * g.sourcePlaneStride + (iy / g.upsample) * g.sourceRowStride + ix / g.upsample]
                                s += v * weight[((co * g.inChannels + c) * g.kernelHeight + dy) * g.kernelWidth + dx]
                            }
                        }
                    }
                    out[(co * g.outputHeight + oy) * g.outputWidth + ox] = s
                }
            }
        }
        return out
    }

    func testFrameConvolutionMatchesLoops() throws {
        func values(_ n: Int, _ seed: Int) -> [Float] { (0..<n).map { Float(sin(Double($0 * 7 + seed)) * 0.5) } }
        let cin = 5, cout = 4, h = 7, w = 9
        let x = values(cin * h * w, 1)
        let cases: [(String, FrameConvolution)] = [
            ("same 3x3", .same(inChannels: cin, outChannels: cout, kernel: 3, height: h, width: w)),
            ("window", FrameConvolution(inChannels: cin, outChannels: cout, kernelHeight: 3, kernelWidth: 3,
                                        padTop: -1, padLeft: 0, inputHeight: h, inputWidth: w, outputHeight: 4, outputWidth: 8,
                                        sourcePlaneStride: h * w, sourceRowStride: w)),
            ("upsample", FrameConvolution(inChannels: cin, outChannels: cout, kernelHeight: 3, kernelWidth: 3,
                                          padTop: 0, padLeft: 1, inputHeight: 2 * h, inputWidth: 2 * w,
                                          outputHeight: 2 * h - 1, outputWidth: 2 * w - 3, upsample: 2,
                                          sourcePlaneStride: h * w, sourceRowStride: w)),
            ("stride 2", FrameConvolution(inChannels: cin, outChannels: cout, kernelHeight: 3, kernelWidth: 3,
                                          strideHeight: 2, strideWidth: 2, padTop: 0, padLeft: 0, inputHeight: h, inputWidth: w,
                                          outputHeight: 3, outputWidth: 4, sourcePlaneStride: h * w, sourceRowStride: w)),
            ("1x1 rows", FrameConvolution(inChannels: cin, outChannels: cout, kernelHeight: 1, kernelWidth: 1,
                                          padTop: -2, padLeft: 0, inputHeight: h, inputWidth: w, outputHeight: 4, outputWidth: w,
                                          sourcePlaneStride: h * w, sourceRowStride: w)),
            ("1x1 window", FrameConvolution(inChannels: cin, outChannels: cout, kernelHeight: 1, kernelWidth: 1,
                                            padTop: -2, padLeft: -3, inputHeight: h, inputWidth: w, outputHeight: 4, outputWidth: 5,
                                            sourcePlaneStride: h * w, sourceRowStride: w)),
        ]
        for (label, g) in cases {
            let groups = 3
            let weights = values(groups * g.outChannels * g.columnLength, 2)
            let plane = g.outputHeight * g.outputWidth
            // One group on its own and three groups sharing the columns.
            for group in [[0], [0, 1, 2]] {
                let buffers = group.map { _ in UnsafeMutablePointer<Float>.allocate(capacity: g.outChannels * plane) }
                defer { buffers.forEach { $0.deallocate() } }
                for b in buffers { b.update(repeating: 0.25, count: g.outChannels * plane) }
                try x.withPointer { xp in
                    try weights.withPointer { wp in
                        try Convolution.accumulateFrame(input: xp, geometry: g, weights: wp, outputs: buffers)
                    }
                }
                let outs = buffers.map { Array(UnsafeBufferPointer(start: $0, count: g.outChannels * plane)) }
                for i in group {
                    let w = Array(weights[(i * g.outChannels * g.columnLength)..<((i + 1) * g.outChannels * g.columnLength)])
                    let expect = try Tensor(shape: [g.outChannels * plane], data: referenceFrameConv(x, g, w).map { $0 + 0.25 })
                    assertClose(try Tensor(shape: [g.outChannels * plane], data: outs[i]), expect, tolerance: 1e-5,
                                "\(label) group \(i) of \(group.count)")
                }
            }
        }
    }
}
