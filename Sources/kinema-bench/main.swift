import Foundation
import Kinema

// Benchmarks, not tests: each prints its numbers beside a reference run on this machine.
// Usage: kinema-bench <gemm|...> [options]

let args = Array(CommandLine.arguments.dropFirst())
let command = args.first ?? "help"
let rest = Array(args.dropFirst())

do {
    switch command {
    case "gemm": try runGEMMBench(rest)
    case "attention": try runAttentionBench(rest)
    case "weights": try runWeightsBench(rest)
    default:
        FileHandle.standardError.write(Data("usage: kinema-bench gemm|attention|weights\n".utf8))
        exit(command == "help" ? 0 : 2)
    }
} catch {
    FileHandle.standardError.write(Data("kinema-bench: \(error)\n".utf8))
    exit(1)
}
