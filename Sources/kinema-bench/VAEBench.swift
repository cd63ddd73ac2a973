import Foundation
import Kinema

/// Wan2.1 VAE decode at the real dimensions (base_dim 96, z_dim 16, dim_mult [1,2,4,4], two
/// residual blocks) with random weights: seconds, seconds per output frame and peak resident
/// memory. tools/bench/vae.sh runs diffusers on the same case for comparison.
///
/// Options: --frames N (latent frames, default 21 → 81 video frames), --height H --width W
/// (pixels, default 480×832), --budget MiB (memoryBudgetBytes, default the decoder's),
/// --threads N, --plan (print the memory plan and stop).
func runVAEBench(_ args: [String]) throws {
    let frames = Int(option("--frames", in: args) ?? "21") ?? 21
    let height = Int(option("--height", in: args) ?? "480") ?? 480
    let width = Int(option("--width", in: args) ?? "832") ?? 832
    let budget = option("--budget", in: args).flatMap(Int.init).map { $0 << 20 } ?? WanVAEDecoder.defaultMemoryBudgetBytes
    if let t = option("--threads", in: args).flatMap(Int.init) { Compute.setThreadCount(t) }
    try Compute.requireSupportedCPU()

    let config = WanVAEConfig()
    let scale = config.spatialCompression
    guard frames > 0, height > 0, width > 0, height % scale == 0, width % scale == 0 else {
        throw KinemaError.invalidArgument("vae bench: need frames > 0 and a size that is a multiple of \(scale)")
    }

    // Random decoder weights (PyTorch's default init ranges), written once to a temporary file.
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kinema-vae-bench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let file = dir.appendingPathComponent("decoder.safetensors")
    var seed: UInt64 = 1
    var tensors: [(name: String, tensor: Tensor)] = []
    for (name, shape) in try WanVAE.tensorShapes(config: config).sorted(by: { $0.key < $1.key })
    where name.hasPrefix("decoder.") || name.hasPrefix("post_quant_conv.") {
        let count = shape.reduce(1, *)
        let fanIn = shape.count > 1 ? shape.dropFirst().reduce(1, *) : 1
        let bound = name.hasSuffix(".weight") ? 1 / Float(fanIn).squareRoot() : 0.05
        seed += 1
        var data = randomArray(count, seed: seed).map { $0 * bound }
        if name.hasSuffix(".gamma") { data = [Float](repeating: 1, count: count) }
        tensors.append((name, try Tensor(shape: shape, data: data)))
    }
    try SafeTensorsWriter.write(tensors, to: file)
    tensors = []
    let decoder = try WanVAEDecoder(config: config, weights: try SafeTensorsFile(url: file))

    let (lh, lw) = (height / scale, width / scale)
    let latent = try Tensor(shape: [config.zDim, frames, lh, lw],
                            data: randomArray(config.zDim * frames * lh * lw, seed: 99).map { $0 * 1.7 })
    let plan = try decoder.plan(latentFrames: frames, latentHeight: lh, latentWidth: lw, memoryBudgetBytes: budget)
    let outFrames = decoder.outputFrameCount(latentFrames: frames)
    print("Wan2.1 VAE decode (random weights), \(frames) latent frames → \(outFrames) frames of \(width)x\(height), "
          + "threads \(Compute.threadCount)")
    print(String(format: "plan: %@, estimated %.2f GB (budget %.2f GB); resident before decode %.2f GB",
                 plan.isTiled ? "tiles \(plan.tileRows)x\(plan.tileColumns)" : "whole frames" as NSString,
                 Double(plan.estimatedBytes) / 1e9, Double(budget) / 1e9, Double(residentBytes()) / 1e9))

    if args.contains("--plan") {
        for mib in [1024, 1536, 2048, 2560, 3072, 4096, 6144] {
            let p = try? decoder.plan(latentFrames: frames, latentHeight: lh, latentWidth: lw, memoryBudgetBytes: mib << 20)
            print(String(format: "  budget %5d MiB: %@", mib,
                         p.map { String(format: "%@, estimated %.2f GB", $0.isTiled ? "tiles \($0.tileRows)x\($0.tileColumns)" : "whole frames", Double($0.estimatedBytes) / 1e9) } ?? "does not fit"))
        }
        return
    }

    let t0 = DispatchTime.now().uptimeNanoseconds, cpu0 = cpuSeconds()
    var last = t0
    var produced = 0
    var checksum: Double = 0
    try decoder.decode(latent: latent, memoryBudgetBytes: budget) { chunk in
        let now = DispatchTime.now().uptimeNanoseconds
        produced += chunk.shape[1]
        for v in chunk.data { checksum += Double(v) }
        print(String(format: "  frames %3d..%3d  %7.2f s", produced - chunk.shape[1], produced - 1, Double(now - last) / 1e9))
        last = now
    }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9, cpu = cpuSeconds() - cpu0
    print(String(format: "kinema: %.2f s total, %.3f s per output frame, cpu %.1f s, peak resident %.2f GB (mean %.4f)",
                 seconds, seconds / Double(outFrames), cpu, Double(peakResidentBytes()) / 1e9, checksum / Double(produced)))
}

/// User + system CPU seconds of this process.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

/// Current resident set size in bytes (VmRSS from /proc).
func residentBytes() -> Int {
    guard let text = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
    for line in text.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        return (line.split(separator: " ").compactMap { Int($0) }.first ?? 0) * 1024
    }
    return 0
}
