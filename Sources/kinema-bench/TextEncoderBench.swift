import Foundation
import Kinema

/// UMT5-XXL prompt encoding (Wan's text encoder: d_model 4096, 64 heads × 64, d_ff 10240,
/// 24 layers, vocabulary 256384) with random bf16 weights generated in memory, for one prompt.
/// Prints the load (generate + pack) time, the median encode time and the peak resident set.
/// tools/bench/umt5.sh runs it beside transformers' UMT5EncoderModel on the same shapes.
///
/// Options: --layers N (default 24), --tokens N (default 40), --runs N (default 3),
/// --threads N.
func runUMT5Bench(_ args: [String]) throws {
    var config = UMT5Config.umt5XXL
    if let layers = option("--layers", in: args).flatMap(Int.init) { config.numLayers = layers }
    let tokens = Int(option("--tokens", in: args) ?? "40") ?? 40
    let runs = max(3, Int(option("--runs", in: args) ?? "3") ?? 3)
    if let t = option("--threads", in: args).flatMap(Int.init) { Compute.setThreadCount(t) }
    guard tokens > 0 else { throw KinemaError.invalidArgument("--tokens must be positive") }

    print("UMT5 encoder: d_model \(config.dModel), \(config.numHeads) heads × \(config.dKV), d_ff \(config.dFF), "
          + "\(config.numLayers) layers, vocabulary \(config.vocabSize); bf16 weights; \(tokens) tokens; "
          + "threads \(Compute.threadCount)")
    let loadStart = DispatchTime.now().uptimeNanoseconds
    let weights = try randomUMT5Weights(config)
    let loadSeconds = Double(DispatchTime.now().uptimeNanoseconds - loadStart) / 1e9
    let encoder = UMT5Encoder(weights: weights)
    print(String(format: "weights: %.2f GB in memory, generated and packed in %.1f s", Double(weights.byteCount) / 1e9, loadSeconds))

    var ids = (0..<(tokens - 1)).map { i in Int32(2 + (i * 7919 + 104_729) % 255_998) }
    ids.append(1)
    var checksum: Float = 0
    var cpuTimes: [Double] = []
    let seconds = try medianSeconds(runs: runs) {
        let cpuStart = processCPUSeconds()
        let out = try encoder.encode(ids: ids)
        cpuTimes.append(processCPUSeconds() - cpuStart)
        checksum = out.data.reduce(0, +)
    }
    guard checksum.isFinite else { throw KinemaError(.internalError, "encoder output is not finite") }
    let cpu = cpuTimes.sorted()[cpuTimes.count / 2]
    let peak = peakResidentBytes()
    print(String(format: "encode: %.3f s (median of %d after one warm-up), %.3f CPU-seconds", seconds, runs, cpu))
    print(String(format: "peak RSS: %.2f GB", Double(peak) / 1e9))
    print(String(format: "RESULT kinema seconds=%.4f cpu_seconds=%.4f peak_rss_bytes=%ld layers=%ld tokens=%ld",
                 seconds, cpu, peak, config.numLayers, tokens))
}

/// CPU time used by all threads of this process: on a shared machine it shows the work done
/// independently of how much of the machine other processes take.
private func processCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Weights with the checkpoint's names, shapes and bf16 storage, uniform random with the
/// variance of each layer's fan-in so that activations stay in a realistic range (norm gains
/// are 1). They load through the same strict loader as a checkpoint: each tensor is generated,
/// packed and released before the next.
private func randomUMT5Weights(_ config: UMT5Config) throws -> UMT5Weights {
    var entries: [String: (dtype: DType, shape: [Int])] = [:]
    for (name, shape) in UMT5WeightNames(config: config).expectedShapes() { entries[name] = (.bf16, shape) }
    entries[UMT5WeightNames.sharedEmbedding] = (.bf16, [config.vocabSize, config.dModel])
    let seeds = Dictionary(uniqueKeysWithValues: entries.keys.sorted().enumerated().map { ($1, UInt64($0 + 1)) })
    let source = try GeneratedTensorSource(label: "random UMT5-XXL", entries: entries) { name, _, shape in
        let count = shape.reduce(1, *)
        let bits: [UInt16]
        if name.hasSuffix("layer_norm.weight") {
            bits = [UInt16](repeating: 0x3F80, count: count)  // 1.0
        } else if name == UMT5WeightNames.sharedEmbedding || name.hasSuffix("relative_attention_bias.weight") {
            bits = randomBFloat16(count: count, scale: 1, seed: seeds[name] ?? 0)
        } else {
            bits = randomBFloat16(count: count, scale: 1 / Float(shape.last ?? 1).squareRoot(), seed: seeds[name] ?? 0)
        }
        return try WeightData(shape: shape, storage: .bf16(bits))
    }
    return try UMT5Weights(config: config, source: source)
}

/// `count` bf16 values uniform in [−√3·scale, √3·scale) (standard deviation `scale`).
/// A block of 65 537 random values is drawn and repeated: the timing does not depend on the
/// values, and copying is ~10× faster than drawing 5.7 billion numbers. The block length is
/// prime, so consecutive rows of a matrix do not repeat each other.
private func randomBFloat16(count: Int, scale: Float, seed: UInt64) -> [UInt16] {
    let blockLength = 65_537
    let range = Float(3).squareRoot() * scale / Float(1 << 31)
    var state = (seed &* 0x9E37_79B9_7F4A_7C15) | 1
    let block = (0..<blockLength).map { _ -> UInt16 in
        state ^= state << 13
        state ^= state >> 7
        state ^= state << 17
        let value = Float(Int32(truncatingIfNeeded: state >> 32)) * range
        return UInt16(truncatingIfNeeded: value.bitPattern >> 16)
    }
    return [UInt16](unsafeUninitializedCapacity: count) { buffer, initialized in
        if let base = buffer.baseAddress {
            block.withUnsafeBufferPointer { source in
                guard let blockBase = source.baseAddress else { return }
                Compute.parallelChunks(count, minChunk: 1 << 20) { start, end in
                    var i = start
                    while i < end {
                        let offset = i % blockLength
                        let n = min(end - i, blockLength - offset)
                        (base + i).initialize(from: blockBase + offset, count: n)
                        i += n
                    }
                }
            }
        }
        initialized = count
    }
}
