import Foundation
import Kinema

// Benchmarks, not tests: each prints its numbers beside a reference run on this machine.
// Usage: kinema-bench <command> [options]

let benchmarks: [(name: String, run: ([String]) throws -> Void)] = [
    ("gemm", runGEMMBench),
    ("attention", runAttentionBench),
    ("dit", runDiTBench),
    ("vae", runVAEBench),
    ("umt5", runUMT5Bench),
    ("tokenizer", runTokenizerBench),
    ("weights", runWeightsBench),
    ("video", runVideoBench),
]

let args = Array(CommandLine.arguments.dropFirst())
let command = args.first ?? "help"
let rest = Array(args.dropFirst())

guard let bench = benchmarks.first(where: { $0.name == command }) else {
    let names = benchmarks.map(\.name).joined(separator: "|")
    FileHandle.standardError.write(Data("usage: kinema-bench \(names) [options]\n".utf8))
    exit(command == "help" ? 0 : 2)
}
do {
    try bench.run(rest)
} catch {
    FileHandle.standardError.write(Data("kinema-bench: \(error)\n".utf8))
    exit(1)
}
