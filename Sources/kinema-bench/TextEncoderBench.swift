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

/// Weights with the checkpoint's shapes and bf16 storage, uniform random with the variance
/// of each layer's fan-in so that activations stay in a realistic range. Each tensor is
/// generated, packed and released before the next, as loading from a file would do.
private func randomUMT5Weights(_ config: UMT5Config) throws -> UMT5Weights {
    let d = config.dModel, inner = config.innerDim, ff = config.dFF
    var seed: UInt64 = 1
    func matrix(_ rows: Int, _ cols: Int, scale: Float) throws -> WeightData {
        seed += 1
        return try WeightData(shape: [rows, cols], storage: .bf16(randomBFloat16(count: rows * cols, scale: scale, seed: seed)))
    }
    let embedding = try matrix(config.vocabSize, d, scale: 1)
    let ones = [Float](repeating: 1, count: d)
    var layers: [UMT5LayerWeights] = []
    for _ in 0..<config.numLayers {
        let inputScale = 1 / Float(d).squareRoot()
        let qkv = try PackedLinearWeight(stacking: [matrix(inner, d, scale: inputScale), matrix(inner, d, scale: inputScale),
                                                    matrix(inner, d, scale: inputScale)])
        let output = try PackedLinearWeight(matrix(d, inner, scale: 1 / Float(inner).squareRoot()))
        let feedForwardInput = try PackedLinearWeight(stacking: [matrix(ff, d, scale: inputScale), matrix(ff, d, scale: inputScale)])
        let feedForwardOutput = try PackedLinearWeight(matrix(d, ff, scale: 1 / Float(ff).squareRoot()))
        seed += 1
        let bias = randomBFloat16(count: config.relativeAttentionNumBuckets * config.numHeads, scale: 1, seed: seed)
            .map { Float(bitPattern: UInt32($0) << 16) }
        layers.append(UMT5LayerWeights(
            attentionNorm: ones, qkv: qkv, attentionOutput: output, relativeAttentionBias: bias,
            feedForwardNorm: ones, feedForwardInput: feedForwardInput, feedForwardOutput: feedForwardOutput))
    }
    return try UMT5Weights(config: config, embedding: embedding, layers: layers, finalNorm: ones)
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
