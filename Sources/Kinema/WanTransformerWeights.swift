// Tensor names of the Wan2.1 DiT in its three published layouts, following huggingface/diffusers
// models/transformers/transformer_wan.py (diffusers names) and loaders/single_file_utils.py
// `convert_wan_transformer_to_diffusers` (original Wan names, "model.diffusion_model." repacks).
//
// Loading is a pure renaming step onto diffusers names followed by a strict check of every name
// and shape (`TensorSource.checkTensors`).

import Foundation

public enum WanTransformerWeights {
    /// The prefix ComfyUI-style single-file checkpoints put before every transformer tensor.
    public static let singleFilePrefix = "model.diffusion_model."

    /// Checkpoint naming schemes.
    public enum Layout: String, Sendable {
        /// diffusers `WanTransformer3DModel` (`transformer/` folder of a diffusers repository).
        case diffusers
        /// The original Wan release (`blocks.N.self_attn.q.weight`, `head.modulation`, ...).
        case original
    }

    // MARK: - Renaming rules

    /// Strips the single-file prefix; nil for a name without it.
    public static func strippingSingleFilePrefix(_ name: String) -> String? {
        name.hasPrefix(singleFilePrefix) ? String(name.dropFirst(singleFilePrefix.count)) : nil
    }

    /// Whether a name can only come from the original Wan layout.
    public static func isOriginalName(_ name: String) -> Bool {
        let top = ["time_embedding.", "text_embedding.", "time_projection.", "head."]
        if top.contains(where: { name.hasPrefix($0) }) { return true }
        return name.hasPrefix("blocks.")
            && (name.contains(".self_attn.") || name.contains(".cross_attn.") || name.hasSuffix(".modulation"))
    }

    /// Which layout a set of names uses.
    public static func layout(of names: [String]) -> Layout {
        names.contains(where: isOriginalName) ? .original : .diffusers
    }

    /// The diffusers name of an original Wan tensor name. Names that no rule covers come back
    /// unchanged, so the strict check reports them as unexpected.
    public static func diffusersName(fromOriginal name: String) -> String {
        var parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard let first = parts.first else { return name }
        func replacing(_ count: Int, with new: [String]) -> String {
            (new + parts.dropFirst(count)).joined(separator: ".")
        }
        switch first {
        case "time_embedding" where parts.count > 1:
            if parts[1] == "0" { return replacing(2, with: ["condition_embedder", "time_embedder", "linear_1"]) }
            if parts[1] == "2" { return replacing(2, with: ["condition_embedder", "time_embedder", "linear_2"]) }
        case "text_embedding" where parts.count > 1:
            if parts[1] == "0" { return replacing(2, with: ["condition_embedder", "text_embedder", "linear_1"]) }
            if parts[1] == "2" { return replacing(2, with: ["condition_embedder", "text_embedder", "linear_2"]) }
        case "time_projection" where parts.count > 1 && parts[1] == "1":
            return replacing(2, with: ["condition_embedder", "time_proj"])
        case "head" where parts.count > 1:
            if parts[1] == "modulation" { return replacing(2, with: ["scale_shift_table"]) }
            if parts[1] == "head" { return replacing(2, with: ["proj_out"]) }
        case "blocks" where parts.count >= 3:
            parts[2...] = ArraySlice(blockPartFromOriginal(Array(parts[2...])))
            return parts.joined(separator: ".")
        default:
            break
        }
        return name
    }

    /// Renames the part of a block tensor name after `blocks.N.`.
    static func blockPartFromOriginal(_ rest: [String]) -> [String] {
        guard let head = rest.first else { return rest }
        let tail = Array(rest.dropFirst())
        switch head {
        case "modulation" where tail.isEmpty:
            return ["scale_shift_table"]
        case "self_attn", "cross_attn":
            let module = head == "self_attn" ? "attn1" : "attn2"
            guard let projection = tail.first else { return rest }
            let renamed: [String]
            switch projection {
            case "q": renamed = ["to_q"]
            case "k": renamed = ["to_k"]
            case "v": renamed = ["to_v"]
            case "o": renamed = ["to_out", "0"]
            default: renamed = [projection]  // norm_q, norm_k keep their names
            }
            return [module] + renamed + tail.dropFirst()
        // The original calls the affine cross-attention norm `norm3` and the FFN norm `norm2`;
        // diffusers swaps them.
        case "norm3": return ["norm2"] + tail
        case "norm2": return ["norm3"] + tail
        case "ffn":
            if tail.first == "0" { return ["ffn", "net", "0", "proj"] + tail.dropFirst() }
            if tail.first == "2" { return ["ffn", "net", "2"] + tail.dropFirst() }
            return rest
        default:
            return rest
        }
    }

    /// A view of `source` under diffusers names, whatever layout it uses. With the single-file
    /// prefix present, only the prefixed tensors belong to the transformer (a combined file may
    /// hold other models' tensors too).
    public static func diffusersView(of source: any TensorSource) throws -> any TensorSource {
        let prefixed = source.names.contains { $0.hasPrefix(singleFilePrefix) }
        let inner = prefixed ? source.names.compactMap(strippingSingleFilePrefix) : source.names
        let layout = layout(of: inner)
        if !prefixed && layout == .diffusers { return source }
        return try RenamedTensorSource(source) { name in
            var n = name
            if prefixed {
                guard let stripped = strippingSingleFilePrefix(name) else { return nil }
                n = stripped
            }
            return layout == .original ? diffusersName(fromOriginal: n) : n
        }
    }

    // MARK: - Expected tensors

    /// Every tensor of the model with its shape, under diffusers names.
    public static func expectedShapes(_ d: WanTransformer.Dimensions) -> [String: [Int]] {
        let dim = d.dim
        var shapes: [String: [Int]] = [
            "patch_embedding.weight": [dim, d.inChannels, d.patchSize[0], d.patchSize[1], d.patchSize[2]],
            "patch_embedding.bias": [dim],
            "condition_embedder.time_embedder.linear_1.weight": [dim, d.freqDim],
            "condition_embedder.time_embedder.linear_1.bias": [dim],
            "condition_embedder.time_embedder.linear_2.weight": [dim, dim],
            "condition_embedder.time_embedder.linear_2.bias": [dim],
            "condition_embedder.time_proj.weight": [6 * dim, dim],
            "condition_embedder.time_proj.bias": [6 * dim],
            "condition_embedder.text_embedder.linear_1.weight": [dim, d.textDim],
            "condition_embedder.text_embedder.linear_1.bias": [dim],
            "condition_embedder.text_embedder.linear_2.weight": [dim, dim],
            "condition_embedder.text_embedder.linear_2.bias": [dim],
            "scale_shift_table": [1, 2, dim],
            "proj_out.weight": [d.outChannels * d.patchVolume, dim],
            "proj_out.bias": [d.outChannels * d.patchVolume],
        ]
        for i in 0..<d.layers {
            let b = "blocks.\(i)."
            shapes[b + "scale_shift_table"] = [1, 6, dim]
            for attn in ["attn1", "attn2"] {
                for p in ["to_q", "to_k", "to_v", "to_out.0"] {
                    shapes[b + "\(attn).\(p).weight"] = [dim, dim]
                    shapes[b + "\(attn).\(p).bias"] = [dim]
                }
                shapes[b + "\(attn).norm_q.weight"] = [dim]
                shapes[b + "\(attn).norm_k.weight"] = [dim]
            }
            if d.crossAttentionNorm {
                shapes[b + "norm2.weight"] = [dim]
                shapes[b + "norm2.bias"] = [dim]
            }
            shapes[b + "ffn.net.0.proj.weight"] = [d.ffnDim, dim]
            shapes[b + "ffn.net.0.proj.bias"] = [d.ffnDim]
            shapes[b + "ffn.net.2.weight"] = [dim, d.ffnDim]
            shapes[b + "ffn.net.2.bias"] = [dim]
        }
        return shapes
    }
}
