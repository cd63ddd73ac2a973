import Foundation
import Kinema

/// Tokenizer speed: loading a tokenizer.json and encoding a long prompt cut to 512 tokens
/// (Wan's text length). The budget is 10 ms per prompt.
///
/// Usage: kinema-bench tokenizer [--tokenizer PATH] [--vocab N] [--runs R]
///   --tokenizer  a tokenizer.json (default: the umt5-style test fixture, run from the
///                repository root)
///   --vocab N    replace the vocabulary by N synthetic pieces (all substrings of the prompt
///                text up to 12 bytes, then filler), to time a UMT5-sized (256000) model
func runTokenizerBench(_ args: [String]) throws {
    let runs = Int(option("--runs", in: args) ?? "20") ?? 20
    let path = option("--tokenizer", in: args) ?? "Tests/KinemaTests/Fixtures/tokenizer/umt5-style/tokenizer.json"
    let english = "A cinematic drone shot of a red fox running through a snowy forest at golden hour, "
        + "soft focus, film grain, highly detailed, 4K. "
    let chinese = "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，"
    let prompt = String(repeating: english + chinese, count: 20)

    var url = URL(fileURLWithPath: path)
    var temporary: URL? = nil
    defer { if let temporary { try? FileManager.default.removeItem(at: temporary) } }
    if let size = option("--vocab", in: args).flatMap(Int.init) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kinema-bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        temporary = dir
        url = try writeSyntheticTokenizer(from: url, pieces: size, text: prompt, to: dir)
    }

    let loadStart = DispatchTime.now().uptimeNanoseconds
    let tokenizer = try Tokenizer(url: url)
    let loadSeconds = Double(DispatchTime.now().uptimeNanoseconds - loadStart) / 1e9
    let cleaned = PromptCleaner.clean(prompt)
    let full = try tokenizer.encode(cleaned)
    let ids = try tokenizer.encode(cleaned, maxLength: 512)
    let seconds = try medianSeconds(runs: runs) { _ = try tokenizer.encodePadded(cleaned, maxLength: 512) }
    let cleanSeconds = medianSeconds(runs: runs) { _ = PromptCleaner.clean(prompt) }
    print("tokenizer: \(url.lastPathComponent), vocabulary \(tokenizer.vocabularySize), loaded in "
          + String(format: "%.3f s", loadSeconds))
    print("prompt: \(cleaned.utf8.count) UTF-8 bytes, \(full.count) tokens, cut to \(ids.count)")
    print(String(format: "encode + pad to 512: %.3f ms (median of %d; budget 10 ms)", seconds * 1e3, runs))
    print(String(format: "PromptCleaner.clean:  %.3f ms", cleanSeconds * 1e3))
}

/// Copies `source` with its vocabulary replaced by `pieces` synthetic entries: every
/// substring (up to 12 UTF-8 bytes, spaces as "▁") of `text`, most frequent first, then
/// filler pieces, so the trie is as large and as deep as a real multilingual vocabulary.
private func writeSyntheticTokenizer(from source: URL, pieces: Int, text: String, to dir: URL) throws -> URL {
    guard var json = try JSONSerialization.jsonObject(with: Data(contentsOf: source)) as? [String: Any],
          var model = json["model"] as? [String: Any],
          let vocab = model["vocab"] as? [[Any]] else {
        throw KinemaError.corrupt("\(source.path): not a Unigram tokenizer.json")
    }
    var seen = Set<String>()
    var entries: [[Any]] = []
    for entry in vocab {
        if let piece = entry.first as? String, seen.insert(piece).inserted { entries.append(entry) }
    }
    let scalars = Array(("▁" + text).replacingOccurrences(of: " ", with: "▁").unicodeScalars)
    var counts: [String: Int] = [:]
    for start in scalars.indices {
        var piece = String.UnicodeScalarView()
        for s in scalars[start...] {
            piece.append(s)
            let string = String(piece)
            if string.utf8.count > 12 { break }
            counts[string, default: 0] += 1
        }
    }
    for (piece, count) in counts.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }) {
        guard entries.count < pieces else { break }
        if seen.insert(piece).inserted { entries.append([piece, -Double(piece.utf8.count) / Double(count)]) }
    }
    var filler = 0
    while entries.count < pieces {
        let piece = "▁filler\(filler)"
        filler += 1
        if seen.insert(piece).inserted { entries.append([piece, -20.0]) }
    }
    model["vocab"] = entries
    json["model"] = model
    let url = dir.appendingPathComponent("tokenizer.json")
    try JSONSerialization.data(withJSONObject: json).write(to: url)
    return url
}
