import Foundation

/// What a model directory holds — components, parameter counts, storage types — and what a
/// generation at given settings would need, without loading any weights.
public struct ModelInfo: Sendable {
    public struct Component: Sendable {
        public var name: String
        public var className: String
        public var parameters: Int
        public var bytes: Int
        /// Parameter count per storage type (F32, BF16, …).
        public var dtypes: [String: Int]
    }

    public let directory: ModelDirectory
    public let components: [Component]

    public init(directory url: URL) throws {
        directory = try ModelDirectory(url: url)
        var list: [Component] = []
        for component in [ModelDirectory.Component.textEncoder, .transformer, .vae] {
            let source = try directory.weights(for: component)
            var params = 0, bytes = 0
            var dtypes: [String: Int] = [:]
            for name in source.names {
                guard let info = source.info(name) else { continue }
                params += info.elementCount
                bytes += info.byteCount
                dtypes[info.dtype.rawValue, default: 0] += info.elementCount
            }
            let cls = directory.components[component.rawValue]?.className ?? "?"
            list.append(Component(name: component.rawValue, className: cls, parameters: params, bytes: bytes, dtypes: dtypes))
        }
        components = list
    }

    public var weightBytes: Int { components.reduce(0) { $0 + $1.bytes } }

    public func describe() -> String {
        var lines = ["model: \(directory.url.path) (\(directory.pipelineClassName))"]
        for c in components {
            let types = c.dtypes.sorted { $0.key < $1.key }.map { "\($0.key)" }.joined(separator: "+")
            lines.append(String(format: "  %-13@ %-24@ %14@ parameters  %@  %@", c.name as NSString, c.className as NSString,
                                ModelInfo.grouped(c.parameters) as NSString, types as NSString,
                                ModelInfo.size(c.bytes) as NSString))
        }
        let t = directory.transformerConfig
        lines.append("  transformer: dim \(t.dim), \(t.numLayers) layers, \(t.numAttentionHeads) heads × \(t.attentionHeadDim), ffn \(t.ffnDim)")
        lines.append("  scheduler: \(directory.schedulerConfig.kind.rawValue), shift \(directory.schedulerConfig.flowMatchingShift)")
        return lines.joined(separator: "\n")
    }

    /// Estimated peak memory of one generation: the weights as stored plus the largest
    /// working set (DiT activations at the token count, or one VAE frame at full size).
    public func estimate(width: Int?, height: Int?, frames: Int?) throws -> String {
        let w = width ?? 832, h = height ?? 480, f = frames ?? 81
        let t = directory.transformerConfig, vae = directory.vaeConfig
        let temporal = vae.temporalCompression, spatial = vae.spatialCompression
        let ph = t.patchSize.count == 3 ? t.patchSize[1] : 2, pw = t.patchSize.count == 3 ? t.patchSize[2] : 2
        let multiple = max(16, spatial * ph)
        guard w > 0, h > 0, w % multiple == 0, h % multiple == 0, f >= 1, (f - 1) % temporal == 0 else {
            throw KinemaError.invalidArgument(
                "estimate needs width/height multiples of \(multiple) and \(temporal)k+1 frames")
        }
        let latentFrames = (f - 1) / temporal + 1
        let tokens = latentFrames * (h / spatial / ph) * (w / spatial / pw)
        // Token activations: residual, normed copy, q/k/v/out, FFN hidden, plus attention blocks.
        let ditBytes = tokens * (6 * t.dim + t.ffnDim) * 4 + 2 * 256 * 2048 * 4
        let widestLinear = max(t.ffnDim, 3 * t.dim) * t.dim * 4
        // A few full-resolution activations of the last decoder stage, 4 frames each.
        let vaeBytes = 6 * vae.decoderDim * 4 * h * w * 4
        let peak = weightBytes + max(ditBytes + widestLinear, vaeBytes)
        return String(format: "estimate for %dx%d, %d frames (%d latent frames, %d tokens): weights %@, denoiser working set %@, VAE working set %@, peak about %@",
                      w, h, f, latentFrames, tokens, ModelInfo.size(weightBytes) as NSString,
                      ModelInfo.size(ditBytes + widestLinear) as NSString, ModelInfo.size(vaeBytes) as NSString,
                      ModelInfo.size(peak) as NSString)
    }

    static func size(_ bytes: Int) -> String {
        let b = Double(bytes)
        let mb = 1024.0 * 1024.0, gb = mb * 1024.0
        if b >= gb { return String(format: "%.2f GB", b / gb) }
        if b >= mb { return String(format: "%.1f MB", b / mb) }
        return String(format: "%.1f KB", b / 1024)
    }

    static func grouped(_ n: Int) -> String {
        let s = String(n)
        var out = ""
        for (i, ch) in s.reversed().enumerated() {
            if i > 0 && i % 3 == 0 { out.append(",") }
            out.append(ch)
        }
        return String(out.reversed())
    }
}
