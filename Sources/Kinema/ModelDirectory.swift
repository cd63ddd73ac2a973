// A diffusers `WanPipeline` folder as `save_pretrained` writes it (huggingface/diffusers
// pipeline_utils.py, pipelines/wan/pipeline_wan.py): model_index.json naming each component's
// library and class, and one sub-folder per component with its config and weights.

import Foundation

/// A Wan text-to-video model folder in the diffusers layout, with every component's
/// configuration read and validated.
///
/// Opening checks that model_index.json, the five component folders, their configuration files
/// and the tokenizer file exist; weights are opened on demand with `weights(for:)`.
public struct ModelDirectory: Sendable {
    /// The pipeline components Kinema uses, named as in model_index.json.
    public enum Component: String, CaseIterable, Sendable {
        case transformer
        case vae
        case textEncoder = "text_encoder"
        case tokenizer
        case scheduler

        /// The (library, class) pairs model_index.json may give for this component.
        var supportedClasses: [ComponentClass] {
            switch self {
            case .transformer: return [ComponentClass(library: "diffusers", className: "WanTransformer3DModel")]
            case .vae: return [ComponentClass(library: "diffusers", className: "AutoencoderKLWan")]
            case .textEncoder: return [ComponentClass(library: "transformers", className: "UMT5EncoderModel")]
            case .tokenizer:
                return ["T5TokenizerFast", "T5Tokenizer", "AutoTokenizer"].map { ComponentClass(library: "transformers", className: $0) }
            case .scheduler:
                return SchedulerConfig.Kind.allCases.map { ComponentClass(library: "diffusers", className: $0.rawValue) }
            }
        }

        /// Base name of the weight files in the component folder, for components with weights.
        var weightsPrefix: String? {
            switch self {
            case .transformer, .vae: return "diffusion_pytorch_model"
            case .textEncoder: return "model"
            case .tokenizer, .scheduler: return nil
            }
        }
    }

    /// The library and class model_index.json gives for a component.
    public struct ComponentClass: Equatable, Sendable {
        public let library: String
        public let className: String
    }

    /// Pipeline classes whose folders this type reads.
    public static let supportedPipelines = ["WanPipeline"]

    /// The model folder.
    public let url: URL
    /// The pipeline class (`_class_name`).
    public let pipelineClassName: String
    /// Every component model_index.json lists with a class (null entries left out).
    public let components: [String: ComponentClass]
    /// Wan2.2 two-expert switch point (`boundary_ratio`); nil for single-transformer models.
    public let boundaryRatio: Double?
    /// Wan2.2 TI2V per-token timesteps (`expand_timesteps`).
    public let expandTimesteps: Bool

    public let transformerConfig: WanTransformerConfig
    public let vaeConfig: WanVAEConfig
    public let textEncoderConfig: UMT5Config
    public let schedulerConfig: SchedulerConfig
    /// `tokenizer/tokenizer.json`.
    public let tokenizerURL: URL

    /// Reads model_index.json and every component's configuration under `url`.
    /// Throws `.missingComponent` for a missing folder or file, `.corruptFile` for malformed
    /// JSON or a wrongly typed key, `.invalidArgument` for a value out of range and
    /// `.unsupported` for a pipeline or component class Kinema does not implement; each
    /// message names the path and the key.
    public init(url: URL) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw KinemaError(.missingComponent, "\(url.path): model folder not found")
        }
        self.url = url

        let indexURL = url.appendingPathComponent("model_index.json")
        let index = try JSONValue.load(indexURL)
        guard let keys = index.objectValue else {
            throw KinemaError.corrupt("\(indexURL.path): is \(index.kindName), expected a JSON object")
        }
        guard let pipeline = keys["_class_name"] else {
            throw KinemaError.corrupt("\(indexURL.path): missing key '_class_name'")
        }
        guard let pipelineClassName = pipeline.stringValue else {
            throw KinemaError.corrupt("\(indexURL.path): key '_class_name' should be a string")
        }
        guard ModelDirectory.supportedPipelines.contains(pipelineClassName) else {
            throw KinemaError.unsupported("\(indexURL.path): _class_name '\(pipelineClassName)' is not supported (\(ModelDirectory.supportedPipelines.joined(separator: ", ")) is)")
        }
        self.pipelineClassName = pipelineClassName
        self.components = try ModelDirectory.parseComponents(keys, indexURL)

        switch keys["boundary_ratio"] {
        case nil, .null?: boundaryRatio = nil
        case .int(let value)?: boundaryRatio = Double(value)
        case .double(let value)?: boundaryRatio = value
        case let other?: throw KinemaError.corrupt("\(indexURL.path): key 'boundary_ratio' should be a number or null, got \(other.kindName)")
        }
        switch keys["expand_timesteps"] {
        case nil, .null?: expandTimesteps = false
        case .bool(let value)?: expandTimesteps = value
        case let other?: throw KinemaError.corrupt("\(indexURL.path): key 'expand_timesteps' should be a boolean, got \(other.kindName)")
        }
        if let second = components["transformer_2"] {
            throw KinemaError.unsupported("\(indexURL.path): a second transformer ('transformer_2': \(second.className)) is not supported")
        }

        for component in Component.allCases {
            guard let declared = components[component.rawValue] else {
                throw KinemaError(.missingComponent, "\(indexURL.path): no '\(component.rawValue)' component is listed")
            }
            guard component.supportedClasses.contains(declared) else {
                throw KinemaError.unsupported("\(indexURL.path): '\(component.rawValue)' is \(declared.library).\(declared.className), which is not supported (supported: \(component.supportedClasses.map(\.className).joined(separator: ", ")))")
            }
            let folder = url.appendingPathComponent(component.rawValue, isDirectory: true)
            var isFolder: ObjCBool = false
            guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isFolder), isFolder.boolValue else {
                throw KinemaError(.missingComponent, "\(folder.path): component folder '\(component.rawValue)' not found")
            }
        }

        transformerConfig = try WanTransformerConfig.load(contentsOf: url.appendingPathComponent("transformer/config.json"))
        vaeConfig = try WanVAEConfig.load(contentsOf: url.appendingPathComponent("vae/config.json"))
        textEncoderConfig = try UMT5Config.load(contentsOf: url.appendingPathComponent("text_encoder/config.json"))
        let schedulerURL = url.appendingPathComponent("scheduler/scheduler_config.json")
        schedulerConfig = try SchedulerConfig.load(contentsOf: schedulerURL)
        if let declared = components[Component.scheduler.rawValue], declared.className != schedulerConfig.kind.rawValue {
            throw KinemaError.corrupt("\(schedulerURL.path): _class_name '\(schedulerConfig.kind.rawValue)' disagrees with model_index.json ('\(declared.className)')")
        }

        tokenizerURL = url.appendingPathComponent("tokenizer/tokenizer.json")
        guard FileManager.default.fileExists(atPath: tokenizerURL.path) else {
            throw KinemaError(.missingComponent, "\(tokenizerURL.path): tokenizer file not found")
        }

        try ModelDirectory.checkAgreement(transformerConfig, vaeConfig, textEncoderConfig, url)
    }

    /// The folder of a component.
    public func directory(for component: Component) -> URL {
        url.appendingPathComponent(component.rawValue, isDirectory: true)
    }

    /// Opens a component's weights: `diffusion_pytorch_model.safetensors` (or its
    /// `.safetensors.index.json`) for the transformer and VAE, `model.safetensors` (or its index)
    /// for the text encoder. The tokenizer and scheduler have none (`.invalidArgument`).
    public func weights(for component: Component) throws -> any TensorSource {
        guard let prefix = component.weightsPrefix else {
            throw KinemaError.invalidArgument("component '\(component.rawValue)' has no weights")
        }
        return try SafeTensorsCollection(directory: directory(for: component), prefix: prefix)
    }

    // MARK: Helpers

    /// Entries of model_index.json shaped `"name": ["library", "Class"]`; `[null, null]` and
    /// `null` mean the component is absent. Keys starting with "_" are bookkeeping.
    private static func parseComponents(_ keys: [String: JSONValue], _ indexURL: URL) throws -> [String: ComponentClass] {
        var components: [String: ComponentClass] = [:]
        for (name, value) in keys where !name.hasPrefix("_") {
            guard case .array(let pair) = value else { continue }
            guard pair.count == 2 else {
                throw KinemaError.corrupt("\(indexURL.path): key '\(name)' should be [library, class], got \(pair.count) entries")
            }
            switch (pair[0], pair[1]) {
            case (.null, .null):
                continue
            case (.string(let library), .string(let className)):
                components[name] = ComponentClass(library: library, className: className)
            default:
                throw KinemaError.corrupt("\(indexURL.path): key '\(name)' should be [library, class] strings or [null, null]")
            }
        }
        return components
    }

    /// Cross-component checks: the widths that must match for the pipeline to run.
    private static func checkAgreement(_ transformer: WanTransformerConfig, _ vae: WanVAEConfig,
                                       _ textEncoder: UMT5Config, _ url: URL) throws {
        guard transformer.inChannels >= vae.zDim else {
            throw KinemaError.invalidArgument("\(url.path): transformer in_channels \(transformer.inChannels) is smaller than vae z_dim \(vae.zDim)")
        }
        guard transformer.outChannels == vae.zDim else {
            throw KinemaError.invalidArgument("\(url.path): transformer out_channels \(transformer.outChannels) differs from vae z_dim \(vae.zDim)")
        }
        guard transformer.textDim == textEncoder.dModel else {
            throw KinemaError.invalidArgument("\(url.path): transformer text_dim \(transformer.textDim) differs from text_encoder d_model \(textEncoder.dModel)")
        }
    }
}
