import Foundation
import Kinema

/// MP4 encoding time per frame at Wan2.1's 480p output size (832x480), for the default preset
/// beside faster x264 presets, with the file size and the round-trip PSNR of each.
func runVideoBench(_ args: [String]) throws {
    let width = Int(option("--width", in: args) ?? "832") ?? 832
    let height = Int(option("--height", in: args) ?? "480") ?? 480
    let frameCount = Int(option("--frames", in: args) ?? "33") ?? 33
    let presets = (option("--presets", in: args) ?? "medium,veryfast,ultrafast").split(separator: ",").map(String.init)
    if let t = option("--threads", in: args).flatMap(Int.init) { Compute.setThreadCount(t) }

    // A few distinct frames, reused in turn, so that generating them stays out of the timing.
    let distinct = min(frameCount, 9)
    let frames = try (0..<distinct).map { try benchFrame(width: width, height: height, index: $0, count: distinct) }
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kinema-bench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }

    print("\(width)x\(height), \(frameCount) frames, threads: \(Compute.threadCount)")
    print("preset       crf   ms/frame   KiB    PSNR dB   encoder")
    for preset in presets {
        let url = dir.appendingPathComponent("\(preset).mp4")
        let options = VideoEncodingOptions(crf: 18, preset: preset)
        let t0 = DispatchTime.now().uptimeNanoseconds
        let writer = try MP4Writer(url: url, width: width, height: height, options: options)
        for i in 0..<frameCount { try writer.append(frames[i % distinct]) }
        let result = try writer.finish()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
        let decoded = try VideoProbe.decodeFrames(url: url)
        var squared = 0.0, count = 0
        for (i, frame) in decoded.enumerated() where i < frameCount {
            let reference = frames[i % distinct]
            for j in 0..<min(frame.count, reference.count) {
                let d = Double(frame.data[j] - reference.data[j])
                squared += d * d
            }
            count += frame.count
        }
        let psnr = 10 * log10(1 / max(squared / Double(max(count, 1)), 1e-12))
        let name = preset.padding(toLength: max(preset.count, 10), withPad: " ", startingAt: 0)
        print(name + String(format: " %5.0f %10.1f %6d %9.2f   ", options.crf, seconds * 1000 / Double(frameCount),
                                   result.byteCount / 1024, psnr) + result.encoder)
    }
}

/// Smooth drifting colours with a moving highlight and fine grey texture.
private func benchFrame(width: Int, height: Int, index: Int, count: Int) throws -> Tensor {
    let t = Float(index) / Float(max(count, 1))
    var data = [Float](repeating: 0, count: width * height * 3)
    for y in 0..<height {
        for x in 0..<width {
            let u = Float(x) / Float(width), v = Float(y) / Float(height)
            let dx = u - (0.2 + 0.6 * t), dy = v - 0.5
            let highlight = 0.35 * expf(-(dx * dx + dy * dy) * 18)
            let texture = 0.04 * sinf(Float(x) * 0.9 + Float(y) * 0.5 + 6 * t)
            let i = (y * width + x) * 3
            data[i] = min(max(0.15 + 0.6 * u + highlight + texture, 0), 1)
            data[i + 1] = min(max(0.2 + 0.5 * (0.5 + 0.5 * sinf(2 * .pi * (v + t))) + highlight + texture, 0), 1)
            data[i + 2] = min(max(0.7 - 0.5 * v + 0.2 * cosf(2 * .pi * (u - t)) + texture, 0), 1)
        }
    }
    return try Tensor(shape: [height, width, 3], data: data)
}
