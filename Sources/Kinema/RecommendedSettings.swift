import Foundation

/// Optional `kinema.json` at the root of a model directory: the generation settings the
/// model's authors recommend (Kinema-Tiny ships one). Any field may be left out.
struct RecommendedSettings: Decodable, Equatable {
    var width: Int?
    var height: Int?
    var frames: Int?
    var fps: Double?
    var steps: Int?
    var guidance: Float?
    var flowShift: Float?
    var sampler: SamplerKind?
    var negativePrompt: String?
    var leadInFrames: Int?

    enum CodingKeys: String, CodingKey {
        case width, height, frames, fps, steps, guidance, sampler
        case flowShift = "flow_shift"
        case negativePrompt = "negative_prompt"
        case leadInFrames = "lead_in_frames"
    }

    static let fileName = "kinema.json"

    /// Reads `kinema.json` from a model directory; nil when there is none.
    static func load(from directory: URL) throws -> RecommendedSettings? {
        let url = directory.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw KinemaError.io("\(url.path): cannot read: \(error.localizedDescription)")
        }
        let settings: RecommendedSettings
        do { settings = try JSONDecoder().decode(RecommendedSettings.self, from: data) } catch {
            throw KinemaError.corrupt("\(url.path): not a valid settings file: \(error)")
        }
        try settings.validate(url)
        return settings
    }

    func validate(_ url: URL) throws {
        func bad(_ key: String, _ value: Any) -> KinemaError {
            KinemaError.invalidArgument("\(url.path): \(key) = \(value) is out of range")
        }
        if let width, width <= 0 || width % 16 != 0 { throw bad("width", width) }
        if let height, height <= 0 || height % 16 != 0 { throw bad("height", height) }
        if let frames, frames < 1 || (frames - 1) % 4 != 0 { throw bad("frames", frames) }
        if let fps, !(fps > 0 && fps <= 240) { throw bad("fps", fps) }
        if let steps, steps < 1 || steps > 1000 { throw bad("steps", steps) }
        if let guidance, !(guidance >= 0 && guidance <= 100) { throw bad("guidance", guidance) }
        if let flowShift, !(flowShift > 0 && flowShift <= 1000) { throw bad("flow_shift", flowShift) }
        if let leadInFrames, !(0...Pipeline.maximumLeadInFrames).contains(leadInFrames) {
            throw bad("lead_in_frames", leadInFrames)
        }
    }
}

extension SamplerKind: Decodable {}
