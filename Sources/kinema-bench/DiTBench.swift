import Foundation
import Kinema

/// One Wan2.1-1.3B DiT forward pass with random weights: latent 16×5×32×32 (1,280 tokens) and a
/// 512-row text context whose first `--text-rows` rows are non-zero (the rest is the zero
/// padding a real prompt gets). Same shapes as tools/bench/dit_torch.py.
///
/// Options: --layers N (default 30), --runs R (median of R after one warm-up, default 3), --threads T,
/// --bf16 (weights kept as bfloat16 and widened per use), --text-rows K (default 64),
/// --weights DIR (load a diffusers `transformer/` folder instead of generating weights).
func runDiTBench(_ args: [String]) throws {
    let layers = Int(option("--layers", in: args) ?? "30") ?? 30
    let runs = max(Int(option("--runs", in: args) ?? "3") ?? 3, 1)
    let textRows = Int(option("--text-rows", in: args) ?? "64") ?? 64
    let bf16 = args.contains("--bf16")
    if let t = option("--threads", in: args).flatMap(Int.init) { Compute.setThreadCount(t) }

    let (frames, height, width, textLength) = (5, 32, 32, 512)
    let tokens = frames * (height / 2) * (width / 2)
    let loadStart = DispatchTime.now().uptimeNanoseconds
    let model: WanTransformer
    let weightBytes: Int
    let weightsLabel: String
    if let folder = option("--weights", in: args) {
        // A diffusers `transformer/` folder: measures loading from disk as well.
        let url = URL(fileURLWithPath: folder)
        let config = try WanTransformerConfig.load(contentsOf: url.appendingPathComponent("config.json"))
        let source = try SafeTensorsCollection(directory: url, prefix: "diffusion_pytorch_model")
        weightBytes = source.names.reduce(0) { $0 + (source.info($1)?.byteCount ?? 0) }
        model = try WanTransformer(config: config, weights: source, keepStoredPrecision: true)
        weightsLabel = "from \(folder)"
    } else {
        var dims = WanTransformer.Dimensions.wan21T2V1_3B
        dims.layers = layers
        let dtype: DType = bf16 ? .bf16 : .f32
        let shapes = WanTransformerWeights.expectedShapes(dims)
        var entries: [String: (dtype: DType, shape: [Int])] = [:]
        for (name, shape) in shapes { entries[name] = (dtype, shape) }
        let source = try GeneratedTensorSource(label: "random-wan-1.3b", entries: entries) { name, dtype, shape in
            try randomWeight(name: name, dtype: dtype, shape: shape)
        }
        weightBytes = shapes.values.reduce(0) { $0 + $1.reduce(1, *) } * dtype.byteSize
        model = try WanTransformer(dimensions: dims, weights: source, keepStoredPrecision: true)
        weightsLabel = bf16 ? "random, bf16 kept" : "random, f32"
    }
    let loadSeconds = Double(DispatchTime.now().uptimeNanoseconds - loadStart) / 1e9
    let dims = model.dimensions
    let rssAfterLoad = peakResidentBytes()

    let latent = try Tensor(shape: [16, frames, height, width],
                            data: randomArray(16 * frames * height * width, seed: 11))
    var contextData = [Float](repeating: 0, count: textLength * dims.textDim)
    let real = min(max(textRows, 0), textLength)
    let values = randomArray(real * dims.textDim, seed: 12)
    contextData.replaceSubrange(0..<values.count, with: values)
    let context = try Tensor(shape: [textLength, dims.textDim], data: contextData)

    var prepared = try model.prepareContext(context)
    let prepareSeconds = try medianSeconds(runs: 1) { prepared = try model.prepareContext(context) }
    var output = try model.forward(latent: latent, timestep: 999, prepared: prepared)  // warm-up
    var times: [Double] = []
    for _ in 0..<runs {
        let start = DispatchTime.now().uptimeNanoseconds
        output = try model.forward(latent: latent, timestep: 999, prepared: prepared)
        times.append(Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
    }
    let seconds = times.sorted()[times.count / 2]
    let flops = ditForwardFLOPs(dims, tokens: tokens, textRows: textLength)
    print("Wan2.1-1.3B DiT forward, Kinema: layers \(dims.layers), tokens \(tokens), text \(textLength) rows (\(real) non-zero), threads \(Compute.threadCount), weights \(weightsLabel)")
    print(String(format: "load                       %8.2f s (peak RSS after load %.2f GB)", loadSeconds,
                 Double(rssAfterLoad) / 1e9))
    print(String(format: "prepare context (once)     %8.3f s (%d key/value rows per block)", prepareSeconds, prepared.rows))
    print(String(format: "forward, median of %d      %8.3f s   (all: %@)", runs, seconds,
                 times.map { String(format: "%.3f", $0) }.joined(separator: ", ")))
    print(String(format: "forward + prepare          %8.3f s", seconds + prepareSeconds))
    print(String(format: "achieved                   %8.1f GFLOP/s (diffusers-equivalent work %.1f GFLOP per forward)",
                 flops / seconds / 1e9, flops / 1e9))
    print(String(format: "weights                    %8.2f GB", Double(weightBytes) / 1e9))
    print(String(format: "peak RSS                   %8.2f GB", Double(peakResidentBytes()) / 1e9))
    print(String(format: "RESULT seconds=%.4f gflops=%.2f peak_rss_gb=%.3f weights_gb=%.3f", seconds, flops / seconds / 1e9,
                 Double(peakResidentBytes()) / 1e9, Double(weightBytes) / 1e9))
    if !output.data.allSatisfy({ $0.isFinite }) { throw KinemaError(.internalError, "non-finite output") }
}

/// Matrix-product FLOPs of one diffusers forward pass (text embedding and cross-attention
/// keys/values over all context rows included), the common yardstick of both benchmarks.
func ditForwardFLOPs(_ d: WanTransformer.Dimensions, tokens n: Int, textRows l: Int) -> Double {
    let (n, l, dim, ffn) = (Double(n), Double(l), Double(d.dim), Double(d.ffnDim))
    let patch = Double(d.inChannels * d.patchVolume), out = Double(d.outChannels * d.patchVolume)
    var f = 2 * n * patch * dim + 2 * n * dim * out
    f += 2 * (Double(d.freqDim) * dim + dim * dim + dim * 6 * dim)
    f += 2 * l * (Double(d.textDim) * dim + dim * dim)
    let block = 2 * n * dim * 3 * dim + 4 * n * n * dim + 2 * n * dim * dim   // self-attention
        + 2 * n * dim * dim + 2 * l * dim * 2 * dim + 4 * n * l * dim + 2 * n * dim * dim  // cross
        + 4 * n * dim * ffn  // feed-forward
    return f + Double(d.layers) * block
}

/// Deterministic weights of a plausible scale: N(0, 1/fan_in)-like uniform values for
/// matrices, ones-ish for norm weights, small values for biases and tables.
func randomWeight(name: String, dtype: DType, shape: [Int]) throws -> WeightData {
    let count = shape.reduce(1, *)
    var seed: UInt64 = 1469598103934665603
    for b in name.utf8 { seed = (seed ^ UInt64(b)) &* 1099511628211 }
    var values = randomArray(count, seed: seed)  // uniform in [-1, 1)
    let fanIn = shape.count >= 2 ? shape.dropFirst().reduce(1, *) : 1
    let scale: Float = shape.count >= 2 && !name.hasSuffix("scale_shift_table") ? (3 / Float(fanIn)).squareRoot() : 0.1
    let offset: Float = name.contains("norm") && name.hasSuffix(".weight") ? 1 : 0
    for i in 0..<count { values[i] = values[i] * scale + offset }
    switch dtype {
    case .f32: return try WeightData(shape: shape, storage: .f32(values))
    case .bf16: return try WeightData(shape: shape, storage: .bf16(values.map { UInt16(truncatingIfNeeded: $0.bitPattern >> 16) }))
    case .f16: return try WeightData(shape: shape, storage: .f16(values.map { Float16($0).bitPattern }))
    }
}
