import Foundation
import XCTest
@testable import Kinema

/// Asserts that `body` throws a `KinemaError` with `code` whose message contains every fragment.
func assertKinemaError(_ code: KinemaError.Code, containing fragments: [String],
                       file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
    do {
        try body()
        XCTFail("expected a \(code) error, nothing was thrown", file: file, line: line)
    } catch let error as KinemaError {
        XCTAssertEqual(error.code, code, "message: \(error.message)", file: file, line: line)
        for fragment in fragments where !error.message.contains(fragment) {
            XCTFail("message '\(error.message)' does not contain '\(fragment)'", file: file, line: line)
        }
    } catch {
        XCTFail("expected a KinemaError, got \(error)", file: file, line: line)
    }
}

final class SafeTensorsTests: XCTestCase {
    // MARK: - Reference files

    /// dtype, shape and float32 bit patterns recorded by make_safetensors_fixtures.py.
    struct Expected: Decodable {
        let dtype: String
        let shape: [Int]
        let bits: [UInt32]
    }

    private func expectations() throws -> [String: [String: Expected]] {
        let data = try Data(contentsOf: fixtureURL("safetensors/expected.json"))
        return try JSONDecoder().decode([String: [String: Expected]].self, from: data)
    }

    private func assertMatches(_ source: any TensorSource, _ expected: [String: Expected],
                               file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(source.names, expected.keys.sorted(), file: file, line: line)
        for (name, want) in expected {
            let info = try XCTUnwrap(source.info(name), file: file, line: line)
            XCTAssertEqual(info.dtype.rawValue, want.dtype, name, file: file, line: line)
            XCTAssertEqual(info.shape, want.shape, name, file: file, line: line)
            XCTAssertEqual(info.elementCount, want.bits.count, name, file: file, line: line)
            XCTAssertEqual(info.byteCount, want.bits.count * info.dtype.byteSize, name, file: file, line: line)

            let tensor = try source.tensor(name)
            XCTAssertEqual(tensor.shape, want.shape, name, file: file, line: line)
            XCTAssertEqual(comparable(tensor.data), comparable(want.bits), "\(name): tensor() bits", file: file, line: line)

            let weight = try source.weight(name)
            XCTAssertEqual(weight.dtype.rawValue, want.dtype, name, file: file, line: line)
            XCTAssertEqual(weight.shape, want.shape, name, file: file, line: line)
            XCTAssertEqual(comparable(weight.toTensor().data), comparable(want.bits), "\(name): weight() bits", file: file, line: line)
        }
    }

    /// Bit patterns with every NaN replaced by one marker: torch itself widens a half NaN to
    /// different payloads depending on the code path (0x7FFFFFFF scalar, payload-preserving
    /// vectorised), so only "is NaN" is meaningful there. Every other value must match bitwise.
    private func comparable(_ values: [Float]) -> [UInt32] {
        values.map { $0.isNaN ? 0x7FC0_0000 : $0.bitPattern }
    }

    private func comparable(_ bits: [UInt32]) -> [UInt32] {
        comparable(bits.map { Float(bitPattern: $0) })
    }

    func testReadsFilesWrittenByTheReferenceLibrary() throws {
        let expected = try expectations()
        for file in ["f32.safetensors", "f16.safetensors", "bf16.safetensors", "mixed.safetensors"] {
            let want = try XCTUnwrap(expected[file], file)
            let opened = try SafeTensorsFile(url: fixtureURL("safetensors/\(file)"))
            try assertMatches(opened, want)
        }
    }

    func testReadsMetadata() throws {
        let opened = try SafeTensorsFile(url: fixtureURL("safetensors/f32.safetensors"))
        XCTAssertEqual(opened.metadata, ["format": "pt", "note": "kinema fixture"])
        XCTAssertEqual(try SafeTensorsFile(url: fixtureURL("safetensors/f16.safetensors")).metadata, [:])
    }

    func testSpecialValuesWidenExactly() throws {
        let f16 = try SafeTensorsFile(url: fixtureURL("safetensors/f16.safetensors")).tensor("special").data
        XCTAssertEqual(f16[0].bitPattern, 0)
        XCTAssertEqual(f16[1].bitPattern, 0x8000_0000)  // -0
        XCTAssertEqual(f16[4], 0x1p-24)  // smallest subnormal
        XCTAssertEqual(f16[8], 65504)
        XCTAssertEqual(f16[10], .infinity)
        XCTAssertTrue(f16[12].isNaN)
        let bf16 = try SafeTensorsFile(url: fixtureURL("safetensors/bf16.safetensors")).tensor("special").data
        XCTAssertEqual(bf16[4], 0x1p-133)
        XCTAssertEqual(bf16[9], -.infinity)
        XCTAssertTrue(bf16[10].isNaN)
    }

    func testShardedCheckpointThroughIndex() throws {
        let expected = try XCTUnwrap(try expectations()["sharded"])
        let folder = fixtureURL("safetensors/sharded")
        let collection = try SafeTensorsCollection(directory: folder, prefix: "model")
        XCTAssertEqual(collection.url.lastPathComponent, "model.safetensors.index.json")
        XCTAssertEqual(collection.files.count, 2)
        try assertMatches(collection, expected)
        XCTAssertEqual(try collection.file(holding: "norm.weight").url.lastPathComponent, "model-00002-of-00002.safetensors")

        let everything = try SafeTensorsCollection(allFilesIn: folder)
        try assertMatches(everything, expected)
    }

    func testSingleFileCollection() throws {
        let expected = try XCTUnwrap(try expectations()["bf16.safetensors"])
        let folder = fixtureURL("safetensors")
        try assertMatches(try SafeTensorsCollection(directory: folder, prefix: "bf16"), expected)
        try assertMatches(try SafeTensorsCollection(file: folder.appendingPathComponent("bf16.safetensors")), expected)
    }

    // MARK: - WeightData

    func testWidenRowsMatchesFullConversion() throws {
        let opened = try SafeTensorsFile(url: fixtureURL("safetensors/bf16.safetensors"))
        let weight = try opened.weight("matrix")
        let full = try opened.tensor("matrix")
        XCTAssertEqual(weight.rowCount, 64)
        XCTAssertEqual(weight.rowLength, 33)
        var rows = [Float](repeating: -1, count: 10 * 33)
        let written = rows.withMutablePointer { weight.widenRows(10..<20, into: $0) }
        XCTAssertEqual(written, 10)
        XCTAssertEqual(rows, Array(full.data[(10 * 33)..<(20 * 33)]))

        // A range running past the end is clamped to the rows that exist.
        var tail = [Float](repeating: -1, count: 10 * 33)
        let tailRows = tail.withMutablePointer { weight.widenRows(60..<70, into: $0) }
        XCTAssertEqual(tailRows, 4)
        XCTAssertEqual(Array(tail[0..<(4 * 33)]), Array(full.data[(60 * 33)...]))
        XCTAssertEqual(tail[4 * 33], -1)

        let half = try SafeTensorsFile(url: fixtureURL("safetensors/f16.safetensors"))
        var halfRows = [Float](repeating: 0, count: 2 * 5)
        halfRows.withMutablePointer { _ = try? half.weight("matrix").widenRows(3..<5, into: $0) }
        XCTAssertEqual(halfRows, Array(try half.tensor("matrix").data[15..<25]))
    }

    func testWeightDataValidatesAndReshapes() throws {
        assertKinemaError(.shapeMismatch, containing: ["[2, 3]"]) {
            _ = try WeightData(shape: [2, 3], storage: .bf16([1, 2, 3]))
        }
        let weight = try WeightData(shape: [2, 3], storage: .f16([0x3C00, 0x4000, 0xC000, 0, 0x8000, 0x7C00]))
        XCTAssertEqual(weight.toTensor().data, [1, 2, -2, 0, -0.0, .infinity])
        XCTAssertEqual(try weight.reshaped([3, 2]).rowLength, 2)
        XCTAssertThrowsError(try weight.reshaped([4, 2]))
        let empty = try WeightData(shape: [0, 5], storage: .f32([]))
        XCTAssertEqual([empty.rowCount, empty.rowLength], [0, 5])
        XCTAssertEqual(empty.toTensor().shape, [0, 5])
        let scalar = WeightData(try Tensor(shape: [], data: [5]))
        XCTAssertEqual(scalar.rowCount, 1)
        XCTAssertEqual(scalar.rowLength, 1)
        XCTAssertEqual(scalar.toTensor().data, [5])
    }

    /// Every half-precision bit pattern against Swift's own `Float16` conversion.
    func testHalfConversionIsExactForEveryValue() {
        let all = (0...0xFFFF).map { UInt16($0) }
        var out = [Float](repeating: 0, count: all.count)
        all.withUnsafeBytes { raw in
            out.withMutablePointer { Widening.f16(raw.baseAddress!, into: $0, count: all.count) }
        }
        var mismatches = 0
        for (i, bits) in all.enumerated() {
            let reference = Float(Float16(bitPattern: bits))
            if reference.isNaN {
                // NaN payloads move up unchanged (no quieting), as torch's conversion does.
                let payload = (UInt32(bits & 0x3FF) << 13) | 0x7F80_0000 | (UInt32(bits & 0x8000) << 16)
                if out[i].bitPattern != payload { mismatches += 1 }
            } else if out[i].bitPattern != reference.bitPattern {
                mismatches += 1
            }
        }
        XCTAssertEqual(mismatches, 0)
    }

    func testBFloat16ConversionAndUnalignedSources() {
        // An odd byte offset makes every 16-bit load unaligned.
        var bytes = [UInt8](repeating: 0, count: 1 + 2 * 4)
        let values: [UInt16] = [0x3F80, 0xC020, 0x7F80, 0x0001]
        for (i, v) in values.enumerated() {
            bytes[1 + 2 * i] = UInt8(v & 0xFF)
            bytes[2 + 2 * i] = UInt8(v >> 8)
        }
        var bf = [Float](repeating: 0, count: 4)
        var half = [Float](repeating: 0, count: 4)
        bytes.withUnsafeBytes { raw in
            let source = raw.baseAddress! + 1
            bf.withMutablePointer { Widening.bf16(source, into: $0, count: 4) }
            half.withMutablePointer { Widening.f16(source, into: $0, count: 4) }
        }
        XCTAssertEqual(bf, [1, -2.5, .infinity, Float(bitPattern: 0x0001_0000)])
        XCTAssertEqual(half.map(\.bitPattern), [0x3FF0_0000, 0xC004_0000, 0x7FF0_0000, 0x3380_0000])
    }

    func testParallelConversionMatchesSerial() {
        let n = Widening.parallelThreshold * 3 + 17
        var state: UInt32 = 12345
        let bits = (0..<n).map { _ -> UInt16 in
            state = state &* 1_664_525 &+ 1_013_904_223
            return UInt16(truncatingIfNeeded: state >> 9)
        }
        var serial = [Float](repeating: 0, count: n)
        var parallel = [Float](repeating: 0, count: n)
        bits.withUnsafeBytes { raw in
            let source = raw.baseAddress!
            serial.withMutablePointer { Widening.f16Serial(source, into: $0, count: n) }
            parallel.withMutablePointer { Widening.f16(source, into: $0, count: n) }
            XCTAssertEqual(serial.map(\.bitPattern), parallel.map(\.bitPattern))
            serial.withMutablePointer { Widening.bf16Serial(source, into: $0, count: n) }
            parallel.withMutablePointer { Widening.bf16(source, into: $0, count: n) }
            XCTAssertEqual(serial.map(\.bitPattern), parallel.map(\.bitPattern))
        }
    }

    // MARK: - Writer

    func testWriterRoundTrip() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("round trip.safetensors")
        let tensors: [(name: String, tensor: Tensor)] = [
            ("z.last", try Tensor(shape: [2, 3], data: [1, -2, 3.5, .infinity, -0.0, Float(bitPattern: 1)])),
            ("a \"quoted\" \\ name\n", try Tensor(shape: [3], data: [7, 8, 9])),
            ("scalar", try Tensor(shape: [], data: [42])),
            ("empty", Tensor(zeros: [0, 4])),
            ("ünïcode.名前", try Tensor(shape: [1, 1, 2], data: [0.25, -0.5])),
        ]
        try SafeTensorsWriter.write(tensors, metadata: ["format": "pt", "tab\t": "x\u{1}"], to: url)

        let opened = try SafeTensorsFile(url: url)
        XCTAssertEqual(opened.names, tensors.map(\.name).sorted())
        XCTAssertEqual(opened.metadata, ["format": "pt", "tab\t": "x\u{1}"])
        for (name, tensor) in tensors {
            XCTAssertEqual(opened.info(name)?.dtype, .f32)
            let read = try opened.tensor(name)
            XCTAssertEqual(read.shape, tensor.shape, name)
            XCTAssertEqual(read.data.map(\.bitPattern), tensor.data.map(\.bitPattern), name)
        }

        // Layout: 8-byte length, header padded to a multiple of 8, then 4 bytes per value.
        let bytes = try Data(contentsOf: url)
        let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual(headerLength % 8, 0)
        XCTAssertEqual(bytes.count, 8 + headerLength + 4 * (6 + 3 + 1 + 0 + 2))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["round trip.safetensors"])

        // Writing again replaces the file.
        try SafeTensorsWriter.write([("only", Tensor(zeros: [2]))], to: url)
        XCTAssertEqual(try SafeTensorsFile(url: url).names, ["only"])
    }

    func testWriterRejectsBadNames() throws {
        let url = try makeTemporaryDirectory(self).appendingPathComponent("bad.safetensors")
        let t = Tensor(zeros: [1])
        assertKinemaError(.invalidArgument, containing: ["bad.safetensors", "'w'"]) {
            try SafeTensorsWriter.write([("w", t), ("w", t)], to: url)
        }
        assertKinemaError(.invalidArgument, containing: ["__metadata__"]) {
            try SafeTensorsWriter.write([("__metadata__", t)], to: url)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: url.path))
    }

    func testWriterUnwritablePathLeavesNothing() throws {
        let dir = try makeTemporaryDirectory(self)
        let blocker = dir.appendingPathComponent("not-a-folder")
        try Data("x".utf8).write(to: blocker)
        let url = blocker.appendingPathComponent("out.safetensors")
        assertKinemaError(.io, containing: [url.path]) {
            try SafeTensorsWriter.write([("w", Tensor(zeros: [3]))], to: url)
        }
        let missing = dir.appendingPathComponent("no/such/folder/out.safetensors")
        assertKinemaError(.io, containing: [missing.path]) {
            try SafeTensorsWriter.write([("w", Tensor(zeros: [3]))], to: missing)
        }
        // The target is an existing folder: the rename fails and the temporary file is removed.
        let folderTarget = dir.appendingPathComponent("occupied")
        try FileManager.default.createDirectory(at: folderTarget.appendingPathComponent("inner"), withIntermediateDirectories: true)
        assertKinemaError(.io, containing: [folderTarget.path]) {
            try SafeTensorsWriter.write([("w", Tensor(zeros: [3]))], to: folderTarget)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted(), ["not-a-folder", "occupied"])
    }

    // MARK: - Corrupt files

    /// Writes a file with an explicit header length, header text and data bytes.
    private func rawFile(_ dir: URL, _ name: String, header: String, data: [UInt8] = [],
                         declaredLength: UInt64? = nil) throws -> URL {
        var bytes = [UInt8]()
        let headerBytes = Array(header.utf8)
        withUnsafeBytes(of: (declaredLength ?? UInt64(headerBytes.count)).littleEndian) { bytes.append(contentsOf: $0) }
        bytes.append(contentsOf: headerBytes)
        bytes.append(contentsOf: data)
        let url = dir.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    private func assertCorrupt(_ dir: URL, _ name: String, header: String, data: [UInt8] = [],
                               declaredLength: UInt64? = nil, code: KinemaError.Code = .corruptFile,
                               mentions: [String] = [], file: StaticString = #filePath, line: UInt = #line) throws {
        let url = try rawFile(dir, name, header: header, data: data, declaredLength: declaredLength)
        assertKinemaError(code, containing: [name] + mentions, file: file, line: line) {
            _ = try SafeTensorsFile(url: url)
        }
    }

    func testRejectsCorruptFiles() throws {
        let dir = try makeTemporaryDirectory(self)
        let eight = [UInt8](repeating: 0, count: 8)
        let ok = #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
        // The well-formed base case opens.
        XCTAssertEqual(try SafeTensorsFile(url: rawFile(dir, "ok.safetensors", header: ok, data: eight)).names, ["w"])

        let empty = dir.appendingPathComponent("empty.safetensors")
        try Data().write(to: empty)
        assertKinemaError(.corruptFile, containing: ["empty.safetensors", "truncated"]) { _ = try SafeTensorsFile(url: empty) }
        let short = dir.appendingPathComponent("short.safetensors")
        try Data([1, 2, 3, 4, 5]).write(to: short)
        assertKinemaError(.corruptFile, containing: ["short.safetensors", "truncated"]) { _ = try SafeTensorsFile(url: short) }

        // A real file cut short: its last tensor now ends past the data section.
        let reference = try Data(contentsOf: fixtureURL("safetensors/f32.safetensors"))
        let cut = dir.appendingPathComponent("cut.safetensors")
        try reference.prefix(reference.count - 10).write(to: cut)
        assertKinemaError(.corruptFile, containing: ["cut.safetensors", "outside the data section"]) { _ = try SafeTensorsFile(url: cut) }

        try assertCorrupt(dir, "long-header.safetensors", header: ok, data: eight, declaredLength: 4096, mentions: ["runs past the end"])
        try assertCorrupt(dir, "zero-header.safetensors", header: ok, data: eight, declaredLength: 0, mentions: ["header length is 0"])
        try assertCorrupt(dir, "huge-header.safetensors", header: ok, declaredLength: UInt64.max, mentions: ["limit"])
        try assertCorrupt(dir, "bad-json.safetensors", header: #"{"w":{"dtype":"F32","#, mentions: ["not valid JSON"])
        let notUTF8 = dir.appendingPathComponent("not-utf8.safetensors")
        try Data([8, 0, 0, 0, 0, 0, 0, 0, 0x7B, 0x22, 0xFF, 0xFE, 0x22, 0x3A, 0x31, 0x7D]).write(to: notUTF8)
        assertKinemaError(.corruptFile, containing: ["not-utf8.safetensors"]) { _ = try SafeTensorsFile(url: notUTF8) }
        try assertCorrupt(dir, "array.safetensors", header: "[1,2,3]", mentions: ["array", "expected a JSON object"])
        try assertCorrupt(dir, "string.safetensors", header: #""text""#, mentions: ["expected a JSON object"])
        try assertCorrupt(dir, "overlap.safetensors", header: #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                          data: [UInt8](repeating: 0, count: 12), mentions: ["'a'", "'b'", "overlap"])
        try assertCorrupt(dir, "outside.safetensors", header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}"#,
                          data: eight, mentions: ["'w'", "outside the data section"])
        try assertCorrupt(dir, "reversed.safetensors", header: #"{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}"#,
                          data: eight, mentions: ["'w'"])
        try assertCorrupt(dir, "size.safetensors", header: #"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#,
                          data: eight, mentions: ["'w'", "12 bytes", "span 8"])
        try assertCorrupt(dir, "size16.safetensors", header: #"{"w":{"dtype":"BF16","shape":[2,3],"data_offsets":[0,8]}}"#,
                          data: eight, mentions: ["BF16", "[2, 3]"])
        try assertCorrupt(dir, "unknown-dtype.safetensors", header: #"{"w":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}}"#,
                          data: eight, mentions: ["'w'", "Q7"])
        try assertCorrupt(dir, "negative-shape.safetensors", header: #"{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}"#,
                          data: eight, mentions: ["'w'", "negative"])
        try assertCorrupt(dir, "overflow-shape.safetensors", header: #"{"w":{"dtype":"F32","shape":[4611686018427387904,8],"data_offsets":[0,8]}}"#,
                          data: eight, mentions: ["'w'", "too large"])
        try assertCorrupt(dir, "absurd-shape.safetensors", header: #"{"w":{"dtype":"F32","shape":[1000000,1000000],"data_offsets":[0,8]}}"#,
                          data: eight, mentions: ["'w'"])
        try assertCorrupt(dir, "bignum-shape.safetensors", header: #"{"w":{"dtype":"F32","shape":[1e300],"data_offsets":[0,8]}}"#,
                          data: eight, mentions: ["'w'", "shape"])
        try assertCorrupt(dir, "real-shape.safetensors", header: #"{"w":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}"#,
                          data: eight, mentions: ["'w'", "shape"])
        try assertCorrupt(dir, "no-dtype.safetensors", header: #"{"w":{"shape":[2],"data_offsets":[0,8]}}"#,
                          data: eight, mentions: ["'w'", "dtype"])
        try assertCorrupt(dir, "no-shape.safetensors", header: #"{"w":{"dtype":"F32","data_offsets":[0,8]}}"#,
                          data: eight, mentions: ["'w'", "shape"])
        try assertCorrupt(dir, "no-offsets.safetensors", header: #"{"w":{"dtype":"F32","shape":[2]}}"#,
                          data: eight, mentions: ["'w'", "data_offsets"])
        try assertCorrupt(dir, "three-offsets.safetensors", header: #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4,8]}}"#,
                          data: eight, mentions: ["'w'", "data_offsets"])
        try assertCorrupt(dir, "entry-number.safetensors", header: #"{"w":7}"#, mentions: ["'w'"])
        try assertCorrupt(dir, "metadata-number.safetensors", header: #"{"__metadata__":{"format":1}}"#, mentions: ["__metadata__", "format"])
        try assertCorrupt(dir, "metadata-array.safetensors", header: #"{"__metadata__":[]}"#, mentions: ["__metadata__"])
    }

    func testRejectsUnsupportedDTypes() throws {
        let dir = try makeTemporaryDirectory(self)
        for (dtype, size) in [("F64", 8), ("I64", 8), ("I32", 4), ("U8", 1), ("BOOL", 1), ("F8_E4M3", 1)] {
            let name = "dtype-\(dtype).safetensors"
            try assertCorrupt(dir, name, header: #"{"w":{"dtype":"\#(dtype)","shape":[2],"data_offsets":[0,\#(2 * size)]}}"#,
                              data: [UInt8](repeating: 0, count: 2 * size), code: .unsupported, mentions: ["'w'", dtype])
        }
    }

    func testHeaderPaddingAndZeroSizedTensorsAreAccepted() throws {
        let dir = try makeTemporaryDirectory(self)
        // Trailing spaces (the reference pads this way) and a zero-sized tensor sharing an offset.
        let header = #"{"a":{"dtype":"F32","shape":[0,5],"data_offsets":[4,4]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}"# + "     "
        let url = try rawFile(dir, "padded.safetensors", header: header, data: [0x80, 0x3F, 0x00, 0xC0])
        let opened = try SafeTensorsFile(url: url)
        XCTAssertEqual(try opened.tensor("a").shape, [0, 5])
        XCTAssertEqual(try opened.tensor("b").data, [1, -2])
    }

    func testMissingFilesAndTensors() throws {
        let dir = try makeTemporaryDirectory(self)
        let missing = dir.appendingPathComponent("absent.safetensors")
        assertKinemaError(.missingComponent, containing: ["absent.safetensors"]) { _ = try SafeTensorsFile(url: missing) }
        assertKinemaError(.io, containing: [dir.path]) { _ = try SafeTensorsFile(url: dir) }
        let opened = try SafeTensorsFile(url: fixtureURL("safetensors/f32.safetensors"))
        assertKinemaError(.missingComponent, containing: ["f32.safetensors", "'nope'"]) { _ = try opened.tensor("nope") }
        assertKinemaError(.missingComponent, containing: ["'nope'"]) { _ = try opened.weight("nope") }
        XCTAssertNil(opened.info("nope"))
        XCTAssertFalse(opened.contains("nope"))
        XCTAssertTrue(opened.contains("matrix"))
        assertKinemaError(.missingComponent, containing: ["model.safetensors", "model.safetensors.index.json"]) {
            _ = try SafeTensorsCollection(directory: dir, prefix: "model")
        }
        assertKinemaError(.missingComponent, containing: [dir.path]) { _ = try SafeTensorsCollection(allFilesIn: dir) }
    }

    func testShapeChecksAndStrictNameCheck() throws {
        let opened = try SafeTensorsFile(url: fixtureURL("safetensors/mixed.safetensors"))
        XCTAssertEqual(try opened.tensor("a.f32", shape: [3, 2]).count, 6)
        XCTAssertEqual(try opened.weight("b.f16", shape: [2, 3]).dtype, .f16)
        assertKinemaError(.shapeMismatch, containing: ["mixed.safetensors", "'a.f32'", "[3, 2]", "[2, 3]"]) {
            _ = try opened.tensor("a.f32", shape: [2, 3])
        }
        try opened.checkTensors(["a.f32": [3, 2], "b.f16": [2, 3], "c.bf16": [4]])
        assertKinemaError(.missingComponent, containing: ["missing 1: d", "unexpected 1: c.bf16", "wrong shape 1: a.f32"]) {
            try opened.checkTensors(["a.f32": [6], "b.f16": [2, 3], "d": [1]])
        }
        assertKinemaError(.shapeMismatch, containing: ["wrong shape 1: c.bf16"]) {
            try opened.checkTensors(["a.f32": [3, 2], "b.f16": [2, 3], "c.bf16": [2, 2]])
        }
    }

    func testRenamedSource() throws {
        let opened = try SafeTensorsFile(url: fixtureURL("safetensors/mixed.safetensors"))
        let renamed = try RenamedTensorSource(opened) { name in
            name.hasPrefix("c.") ? nil : "model." + name
        }
        XCTAssertEqual(renamed.names, ["model.a.f32", "model.b.f16"])
        XCTAssertEqual(try renamed.tensor("model.a.f32"), try opened.tensor("a.f32"))
        XCTAssertEqual(renamed.info("model.b.f16")?.dtype, .f16)
        XCTAssertNil(renamed.info("c.bf16"))
        assertKinemaError(.missingComponent, containing: ["'a.f32'"]) { _ = try renamed.tensor("a.f32") }
        assertKinemaError(.corruptFile, containing: ["mixed.safetensors", "'same'"]) {
            _ = try RenamedTensorSource(opened) { _ in "same" }
        }
    }

    func testInMemorySource() throws {
        let source = InMemoryTensorSource([
            "w": try WeightData(shape: [2, 2], storage: .bf16([0x3F80, 0x4000, 0xC040, 0])),
            "b": WeightData(try Tensor(shape: [2], data: [0.5, -1])),
        ])
        XCTAssertEqual(source.names, ["b", "w"])
        XCTAssertEqual(source.info("w"), SafeTensorInfo(dtype: .bf16, shape: [2, 2], byteCount: 8))
        XCTAssertEqual(try source.tensor("w", shape: [2, 2]).data, [1, 2, -3, 0])
        try source.checkTensors(["w": [2, 2], "b": [2]])
        assertKinemaError(.missingComponent, containing: ["'x'"]) { _ = try source.weight("x") }
        let floats = InMemoryTensorSource(tensors: ["t": Tensor(zeros: [3])])
        XCTAssertEqual(floats.info("t")?.dtype, .f32)
    }

    // MARK: - Broken shard sets

    /// A copy of the two-shard fixture that a test can damage.
    private func shardCopy() throws -> URL {
        let dir = try makeTemporaryDirectory(self).appendingPathComponent("sharded")
        try FileManager.default.copyItem(at: fixtureURL("safetensors/sharded"), to: dir)
        return dir
    }

    private func writeIndex(_ dir: URL, _ map: [String: String]) throws {
        let data = try JSONSerialization.data(withJSONObject: ["metadata": ["total_size": 0], "weight_map": map])
        try data.write(to: dir.appendingPathComponent("model.safetensors.index.json"))
    }

    private let shard1 = "model-00001-of-00002.safetensors"
    private let shard2 = "model-00002-of-00002.safetensors"

    private var goodMap: [String: String] {
        ["layers.0.weight": shard1, "layers.0.bias": shard1, "layers.1.weight": shard2,
         "layers.1.bias": shard2, "norm.weight": shard2]
    }

    func testIndexNamingAMissingShard() throws {
        let dir = try shardCopy()
        try FileManager.default.removeItem(at: dir.appendingPathComponent(shard2))
        assertKinemaError(.missingComponent, containing: ["model.safetensors.index.json", shard2]) {
            _ = try SafeTensorsCollection(directory: dir, prefix: "model")
        }
    }

    func testIndexInconsistentWithShards() throws {
        let dir = try shardCopy()
        let index = "model.safetensors.index.json"
        var map = goodMap
        map["extra.weight"] = shard1
        try writeIndex(dir, map)
        assertKinemaError(.corruptFile, containing: [index, "'extra.weight'", shard1]) {
            _ = try SafeTensorsCollection(directory: dir, prefix: "model")
        }
        map = goodMap
        map["norm.weight"] = nil
        try writeIndex(dir, map)
        assertKinemaError(.corruptFile, containing: [index, "'norm.weight'", "does not list"]) {
            _ = try SafeTensorsCollection(directory: dir, prefix: "model")
        }
        map = goodMap
        map["norm.weight"] = shard1
        try writeIndex(dir, map)
        assertKinemaError(.corruptFile, containing: [index, "'norm.weight'"]) {
            _ = try SafeTensorsCollection(directory: dir, prefix: "model")
        }
        map = goodMap
        map["norm.weight"] = "../elsewhere.safetensors"
        try writeIndex(dir, map)
        assertKinemaError(.corruptFile, containing: [index, "../elsewhere.safetensors"]) {
            _ = try SafeTensorsCollection(directory: dir, prefix: "model")
        }
        try Data("{\"weight_map\": [1]}".utf8).write(to: dir.appendingPathComponent(index))
        assertKinemaError(.corruptFile, containing: [index, "weight_map"]) {
            _ = try SafeTensorsCollection(directory: dir, prefix: "model")
        }
        try Data("{\"weight_map\": {".utf8).write(to: dir.appendingPathComponent(index))
        assertKinemaError(.corruptFile, containing: [index, "not valid JSON"]) {
            _ = try SafeTensorsCollection(directory: dir, prefix: "model")
        }
        try Data("{}".utf8).write(to: dir.appendingPathComponent(index))
        assertKinemaError(.corruptFile, containing: [index, "weight_map"]) {
            _ = try SafeTensorsCollection(directory: dir, prefix: "model")
        }
    }

    func testDuplicateNamesAcrossFiles() throws {
        let dir = try shardCopy()
        try FileManager.default.copyItem(at: dir.appendingPathComponent(shard1), to: dir.appendingPathComponent("copy.safetensors"))
        assertKinemaError(.corruptFile, containing: [dir.path, "copy.safetensors", shard1]) {
            _ = try SafeTensorsCollection(allFilesIn: dir)
        }
    }
}
