import Foundation

/// Where a generation's frames go: validated before any compute starts, written as frames
/// arrive, and either completed atomically or removed without a trace.
struct OutputTarget {
    let path: String?
    let format: OutputFormat?

    /// Checks the output path and format up front, so a bad path fails in milliseconds and not
    /// after minutes of denoising.
    static func prepare(request: GenerationRequest, plan: Pipeline.Plan) throws -> OutputTarget {
        guard let path = request.outputPath else {
            if let format = request.outputFormat {
                throw KinemaError.invalidArgument("output format \(format.rawValue) given without an output path")
            }
            return OutputTarget(path: nil, format: nil)
        }
        guard !path.isEmpty else { throw KinemaError.invalidArgument("output path is empty") }
        guard let format = request.outputFormat ?? OutputFormat.infer(from: path) else {
            throw KinemaError.invalidArgument(
                "cannot tell the output format of '\(path)': use .mp4, .safetensors, or a directory ending in '/'")
        }
        if let crf = request.crf, !(0...51).contains(crf) {
            throw KinemaError.invalidArgument("crf must be in 0…51, got \(crf)")
        }
        let url = URL(fileURLWithPath: path)
        let parent = url.deletingLastPathComponent()
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: parent.path, isDirectory: &isDir), isDir.boolValue else {
            throw KinemaError.io("output directory '\(parent.path)' does not exist")
        }
        // Probe that the directory is writable by creating (and removing) a file in it.
        let probe = parent.appendingPathComponent(".kinema-write-test-\(UUID().uuidString)")
        guard FileManager.default.createFile(atPath: probe.path, contents: Data()) else {
            throw KinemaError.io("output directory '\(parent.path)' is not writable")
        }
        try? FileManager.default.removeItem(at: probe)
        return OutputTarget(path: path, format: format)
    }

    func makeSink(width: Int, height: Int, fps: Double, crf: Int?, keepFrames: Bool) throws -> FrameSink {
        let mp4: MP4Writer?
        if format == .mp4, let path {
            var options = VideoEncodingOptions()
            options.frameRate = try FrameRate(framesPerSecond: fps)
            if let crf { options.crf = Double(crf) }
            mp4 = try MP4Writer(url: URL(fileURLWithPath: path), width: width, height: height, options: options)
        } else {
            mp4 = nil
        }
        let collect = keepFrames || format == .pngSequence || format == .safetensors
        return FrameSink(target: self, width: width, height: height, mp4: mp4, collect: collect, keepFrames: keepFrames)
    }
}

/// Receives decoded VAE chunks ([3, n, H, W] in [−1, 1]) and turns them into RGB frames
/// [H, W, 3] in [0, 1] — the numbers diffusers returns with `output_type="np"`.
final class FrameSink {
    let target: OutputTarget
    let width: Int, height: Int
    let mp4: MP4Writer?
    let collect: Bool, keepFrames: Bool
    private(set) var frames: [Tensor] = []

    init(target: OutputTarget, width: Int, height: Int, mp4: MP4Writer?, collect: Bool, keepFrames: Bool) {
        self.target = target; self.width = width; self.height = height
        self.mp4 = mp4; self.collect = collect; self.keepFrames = keepFrames
    }

    /// Appends the chunk's frames from `skipping` on, at most `atMost` of them (by default all
    /// of them); returns how many.
    @discardableResult
    func append(_ chunk: Tensor, skipping skip: Int = 0, atMost limit: Int = .max) throws -> Int {
        guard chunk.rank == 4, chunk.shape[0] == 3, chunk.shape[2] == height, chunk.shape[3] == width else {
            throw KinemaError.shape("decoded frames \(chunk.shape) are not [3, n, \(height), \(width)]")
        }
        let n = chunk.shape[1], plane = height * width
        let first = min(max(0, skip), n)
        let kept = max(0, min(n - first, limit))
        for f in first..<(first + kept) {
            var rgb = [Float](repeating: 0, count: plane * 3)
            chunk.data.withPointer { src in
                rgb.withMutablePointer { dst in
                    for c in 0..<3 {
                        let s = src + (c * n + f) * plane
                        for i in 0..<plane { dst[i * 3 + c] = min(max(s[i] * 0.5 + 0.5, 0), 1) }
                    }
                }
            }
            let frame = Tensor(unchecked: [height, width, 3], data: rgb)
            try mp4?.append(frame)
            if collect { frames.append(frame) }
        }
        return kept
    }

    struct Written { var notes: [String]; var frames: Tensor? }

    func finish() throws -> Written {
        var notes: [String] = []
        if let mp4 {
            let result = try mp4.finish()
            if let reason = result.fallbackReason { notes.append(reason) }
        }
        if let path = target.path {
            switch target.format {
            case .pngSequence?:
                try PNGSequenceWriter.write(frames: frames, to: URL(fileURLWithPath: path))
            case .safetensors?:
                try SafeTensorsWriter.write([(name: "video", tensor: try stacked())],
                                            metadata: ["format": "video [frames, height, width, 3] float32 in [0, 1]"],
                                            to: URL(fileURLWithPath: path))
            default:
                break
            }
        }
        return Written(notes: notes, frames: keepFrames ? try stacked() : nil)
    }

    func cancel() {
        mp4?.cancel()
        frames.removeAll()
    }

    private func stacked() throws -> Tensor {
        var data: [Float] = []
        data.reserveCapacity(frames.count * height * width * 3)
        for f in frames { data.append(contentsOf: f.data) }
        return try Tensor(shape: [frames.count, height, width, 3], data: data)
    }
}
