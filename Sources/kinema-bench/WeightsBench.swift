import Foundation
import Kinema

/// 16-bit → float32 widening rate (what loading a bf16 checkpoint, or widening a kept-16-bit
/// weight per use, costs), beside a plain float32 copy of the same size as the memory-bound
/// ceiling. One Wan2.1-1.3B FFN weight is 8960×1536 = 13.8 M elements.
func runWeightsBench(_ args: [String]) throws {
    let runs = Int(option("--runs", in: args) ?? "5") ?? 5
    if let t = option("--threads", in: args).flatMap(Int.init) { Compute.setThreadCount(t) }
    let rows = 8960, cols = 1536, n = rows * cols
    let source = randomArray(n, seed: 7)
    let bf16 = source.map { UInt16(truncatingIfNeeded: $0.bitPattern >> 16) }
    let f16 = source.map { Float16($0).bitPattern }
    var out = [Float](repeating: 0, count: n)

    print("threads: \(Compute.threadCount), runs: \(runs) (median), \(rows)x\(cols) = \(n) elements")
    print("conversion                   ms    M elem/s  GB/s written")
    func report(_ name: String, _ seconds: Double) {
        let label = name.padding(toLength: 22, withPad: " ", startingAt: 0)
        print(label + String(format: " %8.2f %11.0f %10.2f", seconds * 1e3,
                             Double(n) / seconds / 1e6, Double(n * 4) / seconds / 1e9))
    }
    let copy = medianSeconds(runs: runs) {
        source.withPointer { s in out.withMutablePointer { o in o.update(from: s, count: n) } }
    }
    report("f32 copy", copy)
    for (name, storage) in [("bf16 → f32", WeightData.Storage.bf16(bf16)), ("f16 → f32", .f16(f16))] {
        let weight = try WeightData(shape: [rows, cols], storage: storage)
        let all = medianSeconds(runs: runs) {
            out.withMutablePointer { o in _ = weight.widenRows(0..<rows, into: o) }
        }
        report(name, all)
        // Row blocks small enough to run on one thread: the per-use widening rate.
        let block = 64
        let blocked = medianSeconds(runs: runs) {
            out.withMutablePointer { o in
                for start in stride(from: 0, to: rows, by: block) {
                    _ = weight.widenRows(start..<min(start + block, rows), into: o + start * cols)
                }
            }
        }
        report(name + " (64 rows)", blocked)
    }
}
