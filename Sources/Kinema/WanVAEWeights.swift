// Tensor names and weight loading for the Wan2.1 VAE, following diffusers
// (models/autoencoders/autoencoder_kl_wan.py, loaders/single_file_utils.py convert_wan_vae_to_diffusers).
import Foundation

// MARK: - Original (Wan2.1_VAE) names → diffusers names

/// Key remapping from the original Wan2.1 release (`Wan2.1_VAE.pth` converted to safetensors
/// with its state-dict names) to diffusers' `AutoencoderKLWan` names. Each rule is a small pure
/// function; a name no rule recognises is returned unchanged, so the strict check afterwards
/// reports it as unexpected instead of it being dropped silently.
public enum WanVAEKeys {
    /// Whether `names` use the original naming (`decoder.conv1.*`) rather than diffusers'
    /// (`decoder.conv_in.*`).
    public static func usesOriginalNames(_ names: [String]) -> Bool {
        names.contains { $0.hasPrefix("decoder.conv1.") || $0.hasPrefix("encoder.conv1.") || $0.hasPrefix("decoder.upsamples.") }
    }

    /// The diffusers name of an original tensor name. `numResBlocks` is needed because the
    /// original decoder numbers its blocks in one flat list (per level: the residual blocks,
    /// then the resample).
    public static func diffusersName(original name: String, numResBlocks: Int) -> String {
        if let renamed = topLevel(name) { return renamed }
        guard let dot = name.firstIndex(of: "."), ["encoder", "decoder"].contains(String(name[..<dot])) else { return name }
        let side = String(name[..<dot])
        let rest = String(name[name.index(after: dot)...])
        let renamed = stem(rest) ?? middle(rest) ?? downsamples(rest) ?? upsamples(rest, numResBlocks: numResBlocks)
        return renamed.map { "\(side).\($0)" } ?? name
    }

    /// `conv1` / `conv2` at the top level are diffusers' quant_conv / post_quant_conv.
    static func topLevel(_ name: String) -> String? {
        for (old, new) in [("conv1.", "quant_conv."), ("conv2.", "post_quant_conv.")] where name.hasPrefix(old) {
            return new + name.dropFirst(old.count)
        }
        return nil
    }

    /// `conv1` → `conv_in`; `head.0` → `norm_out`; `head.2` → `conv_out`.
    static func stem(_ rest: String) -> String? {
        for (old, new) in [("conv1.", "conv_in."), ("head.0.", "norm_out."), ("head.2.", "conv_out.")] where rest.hasPrefix(old) {
            return new + rest.dropFirst(old.count)
        }
        return nil
    }

    /// Residual block internals: the original Sequential indices become named layers.
    static func residualLeaf(_ leaf: String) -> String? {
        let rules = [("residual.0.", "norm1."), ("residual.2.", "conv1."), ("residual.3.", "norm2."),
                     ("residual.6.", "conv2."), ("shortcut.", "conv_shortcut.")]
        for (old, new) in rules where leaf.hasPrefix(old) { return new + leaf.dropFirst(old.count) }
        return nil
    }

    /// `middle.0` / `middle.2` are the mid block's residual blocks, `middle.1` its attention.
    static func middle(_ rest: String) -> String? {
        guard let (index, leaf) = indexed(rest, prefix: "middle.") else { return nil }
        switch index {
        case 0, 2: return residualLeaf(leaf).map { "mid_block.resnets.\(index / 2).\($0)" }
        case 1: return "mid_block.attentions.0.\(leaf)"
        default: return nil
        }
    }

    /// The encoder keeps its flat block list: `downsamples.K` → `down_blocks.K`.
    static func downsamples(_ rest: String) -> String? {
        guard let (index, leaf) = indexed(rest, prefix: "downsamples.") else { return nil }
        return "down_blocks.\(index).\(residualLeaf(leaf) ?? leaf)"
    }

    /// The decoder's flat list is regrouped per level: numResBlocks + 1 residual blocks, then
    /// the resample (`upsamplers.0`).
    static func upsamples(_ rest: String, numResBlocks: Int) -> String? {
        guard numResBlocks >= 0, let (index, leaf) = indexed(rest, prefix: "upsamples.") else { return nil }
        let perLevel = numResBlocks + 2
        let level = index / perLevel, slot = index % perLevel
        if slot <= numResBlocks {
            return residualLeaf(leaf).map { "up_blocks.\(level).resnets.\(slot).\($0)" }
        }
        return "up_blocks.\(level).upsamplers.0.\(leaf)"
    }

    /// Splits "prefix<int>.<leaf>" into the integer and the leaf.
    static func indexed(_ s: String, prefix: String) -> (Int, String)? {
        guard s.hasPrefix(prefix) else { return nil }
        let tail = s.dropFirst(prefix.count)
        guard let dot = tail.firstIndex(of: "."), let index = Int(tail[..<dot]), index >= 0 else { return nil }
        return (index, String(tail[tail.index(after: dot)...]))
    }

    /// `weights` under diffusers names: a renaming view when they use the original names.
    public static func diffusersView(of weights: any TensorSource, numResBlocks: Int) throws -> any TensorSource {
        guard usesOriginalNames(weights.names) else { return weights }
        return try RenamedTensorSource(weights) { diffusersName(original: $0, numResBlocks: numResBlocks) }
    }
}

// MARK: - Layer weights

/// A (causal) convolution's weights, repacked for `Convolution.accumulateFrame`: one
/// [Cout, Cin·kh·kw] matrix per temporal tap, stored newest tap first, so that group g of a
/// streaming step is the contribution of the current frame to output t + g.
struct VAEConvWeights: Sendable {
    let inChannels: Int, outChannels: Int
    let kernel: (t: Int, h: Int, w: Int)
    /// Spatial zero padding (symmetric) of the convolution as PyTorch declares it.
    let padding: (h: Int, w: Int)
    let taps: [Float]
    let bias: [Float]

    var columnLength: Int { inChannels * kernel.h * kernel.w }
    var tapCount: Int { kernel.t }
    /// Offset of the matrix that applies temporal tap `dt` (0 = oldest frame) in `taps`.
    func tapOffset(_ dt: Int) -> Int { (kernel.t - 1 - dt) * outChannels * columnLength }

    /// Repacks a PyTorch [Cout, Cin, kt, kh, kw] (or [Cout, Cin, kh, kw]) weight.
    init(weight: Tensor, bias: Tensor, padding: (h: Int, w: Int)) {
        let s = weight.shape
        let (cout, cin) = (s[0], s[1])
        let (kt, kh, kw) = s.count == 5 ? (s[2], s[3], s[4]) : (1, s[2], s[3])
        let k2 = kh * kw, kLen = cin * k2
        var taps = [Float](repeating: 0, count: weight.count)
        weight.data.withPointer { src in
            taps.withMutablePointer { dst in
                for g in 0..<kt {
                    let dt = kt - 1 - g
                    for co in 0..<cout {
                        for c in 0..<cin {
                            let from = src + ((co * cin + c) * kt + dt) * k2
                            let to = dst + (g * cout + co) * kLen + c * k2
                            to.update(from: from, count: k2)
                        }
                    }
                }
            }
        }
        self.inChannels = cin; self.outChannels = cout
        self.kernel = (kt, kh, kw); self.padding = padding
        self.taps = taps; self.bias = bias.data
    }

    /// Sizes without weights, for listing the tensors a configuration expects.
    init(placeholderFor shape: [Int], padding: (h: Int, w: Int)) {
        let kernel = shape.count == 5 ? (shape[2], shape[3], shape[4]) : (1, shape[2], shape[3])
        self.init(inChannels: shape[1], outChannels: shape[0], kernel: kernel, padding: padding, taps: [], bias: [])
    }

    /// Only the first `rows` output channels (the encoder needs the mean half of quant_conv).
    func keepingOutputs(_ rows: Int) -> VAEConvWeights {
        guard !taps.isEmpty else { return self }
        return VAEConvWeights(inChannels: inChannels, outChannels: rows, kernel: kernel, padding: padding,
                              taps: (0..<kernel.t).flatMap { g in
                                  taps[(g * outChannels * columnLength)..<((g * outChannels + rows) * columnLength)]
                              },
                              bias: Array(bias.prefix(rows)))
    }

    private init(inChannels: Int, outChannels: Int, kernel: (t: Int, h: Int, w: Int), padding: (h: Int, w: Int),
                 taps: [Float], bias: [Float]) {
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernel = kernel; self.padding = padding; self.taps = taps; self.bias = bias
    }
}

struct VAEResidualWeights: Sendable {
    let norm1: [Float], conv1: VAEConvWeights
    let norm2: [Float], conv2: VAEConvWeights
    let shortcut: VAEConvWeights?
}

struct VAEAttentionWeights: Sendable {
    let channels: Int
    let norm: [Float]
    /// to_qkv as [3C, C] and proj as [C, C] (1×1 Conv2d weights are linear maps).
    let qkvWeight: [Float], qkvBias: [Float]
    let projWeight: [Float], projBias: [Float]
}

struct VAEResampleWeights: Sendable {
    enum Mode: Sendable { case upsample2d, upsample3d, downsample2d, downsample3d }
    let mode: Mode
    /// The spatial Conv2d (`resample.1`).
    let conv: VAEConvWeights
    /// `time_conv`: C → 2C causal (3,1,1) when upsampling, C → C stride-2 (3,1,1) when downsampling.
    let timeConv: VAEConvWeights?
}

// MARK: - Strict loading

/// Reads the tensors a model asks for, recording every name and shape it expects; `finish()`
/// then raises one error that lists every missing, wrongly shaped and unexpected tensor.
final class VAEWeightReader {
    /// nil: only record the expected names and shapes (weights come back empty).
    let source: (any TensorSource)?
    private(set) var expected: [String: [Int]] = [:]
    private var missing: [String] = []
    private var wrongShape: [String] = []

    init(_ source: any TensorSource) { self.source = source }

    /// A reader that reads nothing and only lists what a model expects.
    init() { source = nil }

    /// The tensor, or zeros of the expected shape when it is absent or misshapen (recorded, and
    /// reported by `finish()`), so one pass finds every problem.
    func tensor(_ name: String, _ shape: [Int]) throws -> Tensor {
        expected[name] = shape
        guard let source else { return Tensor(zeros: [0]) }
        guard let info = source.info(name) else {
            missing.append(name)
            return Tensor(zeros: shape)
        }
        guard info.shape == shape else {
            wrongShape.append("\(name) is \(info.shape), expected \(shape)")
            return Tensor(zeros: shape)
        }
        return try source.tensor(name)
    }

    func conv3d(_ name: String, _ cin: Int, _ cout: Int, kernel: (Int, Int, Int), padding: (Int, Int) = (0, 0)) throws -> VAEConvWeights {
        let shape = [cout, cin, kernel.0, kernel.1, kernel.2]
        return try conv(name, shape, padding: padding)
    }

    func conv2d(_ name: String, _ cin: Int, _ cout: Int, kernel: Int, padding: Int) throws -> VAEConvWeights {
        try conv(name, [cout, cin, kernel, kernel], padding: (padding, padding))
    }

    private func conv(_ name: String, _ shape: [Int], padding: (Int, Int)) throws -> VAEConvWeights {
        let w = try tensor("\(name).weight", shape), b = try tensor("\(name).bias", [shape[0]])
        guard source != nil else { return VAEConvWeights(placeholderFor: shape, padding: padding) }
        return VAEConvWeights(weight: w, bias: b, padding: padding)
    }

    func gamma(_ name: String, _ channels: Int, images: Bool = false) throws -> [Float] {
        try tensor("\(name).gamma", images ? [channels, 1, 1] : [channels, 1, 1, 1]).data
    }

    func residual(_ name: String, _ cin: Int, _ cout: Int) throws -> VAEResidualWeights {
        let shortcut = cin == cout ? nil : try conv3d("\(name).conv_shortcut", cin, cout, kernel: (1, 1, 1))
        return VAEResidualWeights(
            norm1: try gamma("\(name).norm1", cin),
            conv1: try conv3d("\(name).conv1", cin, cout, kernel: (3, 3, 3), padding: (1, 1)),
            norm2: try gamma("\(name).norm2", cout),
            conv2: try conv3d("\(name).conv2", cout, cout, kernel: (3, 3, 3), padding: (1, 1)),
            shortcut: shortcut)
    }

    func attention(_ name: String, _ c: Int) throws -> VAEAttentionWeights {
        VAEAttentionWeights(
            channels: c,
            norm: try gamma("\(name).norm", c, images: true),
            qkvWeight: try tensor("\(name).to_qkv.weight", [3 * c, c, 1, 1]).data,
            qkvBias: try tensor("\(name).to_qkv.bias", [3 * c]).data,
            projWeight: try tensor("\(name).proj.weight", [c, c, 1, 1]).data,
            projBias: try tensor("\(name).proj.bias", [c]).data)
    }

    func resample(_ name: String, _ c: Int, mode: VAEResampleWeights.Mode) throws -> VAEResampleWeights {
        switch mode {
        case .upsample2d, .upsample3d:
            let time = mode == .upsample3d ? try conv3d("\(name).time_conv", c, 2 * c, kernel: (3, 1, 1)) : nil
            return VAEResampleWeights(mode: mode, conv: try conv2d("\(name).resample.1", c, c / 2, kernel: 3, padding: 1),
                                      timeConv: time)
        case .downsample2d, .downsample3d:
            let time = mode == .downsample3d ? try conv3d("\(name).time_conv", c, c, kernel: (3, 1, 1)) : nil
            return VAEResampleWeights(mode: mode, conv: try conv2d("\(name).resample.1", c, c, kernel: 3, padding: 0),
                                      timeConv: time)
        }
    }

    /// Throws one error naming every missing, wrongly shaped and unexpected tensor. Names for
    /// which `belongsElsewhere` is true (the other half of a full VAE checkpoint) are allowed
    /// without being read.
    func finish(belongsElsewhere: (String) -> Bool = { _ in false }) throws {
        guard let source else { return }
        let unexpected = source.names.filter { expected[$0] == nil && !belongsElsewhere($0) }
        guard missing.isEmpty, wrongShape.isEmpty, unexpected.isEmpty else {
            func list(_ items: [String]) -> String {
                items.count <= 20 ? items.joined(separator: ", ")
                    : items.prefix(20).joined(separator: ", ") + " and \(items.count - 20) more"
            }
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing \(missing.count): \(list(missing.sorted()))") }
            if !unexpected.isEmpty { parts.append("unexpected \(unexpected.count): \(list(unexpected))") }
            if !wrongShape.isEmpty { parts.append("wrong shape \(wrongShape.count): \(list(wrongShape.sorted()))") }
            let code: KinemaError.Code = missing.isEmpty && unexpected.isEmpty ? .shapeMismatch : .missingComponent
            throw KinemaError(code, "\(source.url.path): Wan VAE tensors do not match the configuration; "
                                  + parts.joined(separator: "; "))
        }
    }
}
