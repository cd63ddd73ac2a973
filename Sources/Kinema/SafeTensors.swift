// Reader for the safetensors format, following huggingface/safetensors (safetensors/src/tensor.rs
// and docs): 8-byte little-endian header length N, N bytes of JSON, then the data section.
// Every rule the reference enforces on the header is checked here before the header is used.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Element types Kinema reads from checkpoints.
public enum DType: String, Sendable, CaseIterable {
    case f32 = "F32"
    case f16 = "F16"
    case bf16 = "BF16"

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        }
    }

    /// Width in bits of every element type the safetensors format defines, including those
    /// Kinema recognises but cannot read.
    static let formatWidths: [String: Int] = [
        "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
        "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
        "I32": 32, "U32": 32, "F32": 32,
        "I64": 64, "U64": 64, "F64": 64, "C64": 64,
        "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
    ]
}

/// What a checkpoint says about one tensor: element type, shape and size in bytes.
public struct SafeTensorInfo: Sendable, Equatable {
    public let dtype: DType
    public let shape: [Int]
    public let byteCount: Int

    /// Number of elements (the product of the shape).
    public var elementCount: Int { byteCount / dtype.byteSize }
}

/// Anything that serves named tensors: a single safetensors file, a sharded checkpoint, a
/// renaming view of either, or tensors in memory. Model loaders take `any TensorSource`.
public protocol TensorSource: Sendable {
    /// Where the tensors come from (file, index file or folder), for error messages.
    var url: URL { get }
    /// All tensor names, sorted.
    var names: [String] { get }
    /// Type, shape and size of a tensor, or nil when there is no tensor of that name.
    func info(_ name: String) -> SafeTensorInfo?
    /// The tensor as float32 (16-bit types widened exactly).
    func tensor(_ name: String) throws -> Tensor
    /// The tensor in its stored precision, for models that keep 16-bit weights in memory.
    func weight(_ name: String) throws -> WeightData
}

// MARK: - SafeTensorsFile

/// A memory-mapped, validated safetensors file.
///
/// The whole header is checked when the file is opened (sizes, offsets, overlaps, element
/// types), so the accessors afterwards only copy bytes whose bounds are known to be inside the
/// mapping. The mapping is read-only and private; it is released when the object is freed.
/// Files are assumed not to change on disk while open (a file truncated underneath a mapping
/// makes later reads fault, as with any memory-mapped reader).
public final class SafeTensorsFile: TensorSource, @unchecked Sendable {
    /// Largest header accepted, as in the reference implementation.
    public static let maxHeaderBytes = 100_000_000

    public let url: URL
    public let names: [String]
    public let metadata: [String: String]

    private struct Entry {
        let info: SafeTensorInfo
        /// Offset of the first byte from the start of the mapping.
        let fileOffset: Int
    }

    private let entries: [String: Entry]
    private let base: UnsafeRawPointer
    private let mappedSize: Int

    /// Maps `url` and validates its header; throws `.corruptFile`, `.unsupported` or `.io`
    /// with a message naming the file.
    public init(url: URL) throws {
        self.url = url
        let path = url.path
        let (base, size) = try SafeTensorsFile.map(path)
        self.base = UnsafeRawPointer(base)
        self.mappedSize = size
        do {
            let parsed = try SafeTensorsFile.parseHeader(base: UnsafeRawPointer(base), fileSize: size)
            var entries: [String: Entry] = [:]
            for (name, parsedEntry) in parsed.entries {
                entries[name] = Entry(info: parsedEntry.info, fileOffset: parsedEntry.fileOffset)
            }
            self.entries = entries
            self.names = entries.keys.sorted()
            self.metadata = parsed.metadata
        } catch let error as KinemaError {
            munmap(base, size)
            throw KinemaError(error.code, "\(path): \(error.message)")
        }
    }

    deinit {
        munmap(UnsafeMutableRawPointer(mutating: base), mappedSize)
    }

    public func info(_ name: String) -> SafeTensorInfo? {
        entries[name]?.info
    }

    public func tensor(_ name: String) throws -> Tensor {
        let entry = try lookup(name)
        let count = entry.info.elementCount
        let source = base + entry.fileOffset
        let data = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            if let out = buffer.baseAddress {
                switch entry.info.dtype {
                case .f32: UnsafeMutableRawPointer(out).copyMemory(from: source, byteCount: count * 4)
                case .f16: Widening.f16(source, into: out, count: count)
                case .bf16: Widening.bf16(source, into: out, count: count)
                }
            }
            initialized = count
        }
        releasePages(of: entry)
        return Tensor(unchecked: entry.info.shape, data: data)
    }

    public func weight(_ name: String) throws -> WeightData {
        let entry = try lookup(name)
        let count = entry.info.elementCount
        let source = base + entry.fileOffset
        let storage: WeightData.Storage
        switch entry.info.dtype {
        case .f32:
            storage = .f32(copyElements(Float.self, from: source, count: count))
        case .f16:
            storage = .f16(copyElements(UInt16.self, from: source, count: count))
        case .bf16:
            storage = .bf16(copyElements(UInt16.self, from: source, count: count))
        }
        releasePages(of: entry)
        return WeightData(unchecked: entry.info.shape, storage: storage)
    }

    /// Drops the mapped pages of a tensor that has just been copied out, so that loading a
    /// model holds each weight once (in its array) rather than twice (array plus resident file
    /// pages) until the file is closed. The mapping stays valid: a later read faults the pages
    /// back in from the page cache, so this changes memory use only, never the data.
    private func releasePages(of entry: Entry) {
        let page = SafeTensorsFile.pageSize
        let start = entry.fileOffset, end = entry.fileOffset + entry.info.byteCount
        let first = (start + page - 1) / page * page
        let last = end / page * page
        guard last > first, last <= mappedSize else { return }
        _ = madvise(UnsafeMutableRawPointer(mutating: base + first), last - first, Int32(MADV_DONTNEED))
    }

    private static let pageSize = max(Int(sysconf(Int32(_SC_PAGESIZE))), 4096)

    private func lookup(_ name: String) throws -> Entry {
        guard let entry = entries[name] else {
            throw KinemaError(.missingComponent, "\(url.path): no tensor named '\(name)'")
        }
        return entry
    }

    // MARK: Mapping

    /// Opens and maps a file read-only; returns the mapping and its size.
    private static func map(_ path: String) throws -> (UnsafeMutableRawPointer, Int) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            let kind: KinemaError.Code = code == ENOENT ? .missingComponent : .io
            throw KinemaError(kind, "\(path): cannot open (\(String(cString: strerror(code))))")
        }
        defer { close(fd) }
        var status = stat()
        guard fstat(fd, &status) == 0 else {
            throw KinemaError.io("\(path): cannot read file status (\(String(cString: strerror(errno))))")
        }
        guard (status.st_mode & S_IFMT) == S_IFREG else {
            throw KinemaError.io("\(path): not a regular file")
        }
        let size = Int(status.st_size)
        guard size >= 8 else {
            throw KinemaError.corrupt("\(path): truncated: \(size) bytes is too short for the 8-byte header length")
        }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0),
              mapped != UnsafeMutableRawPointer(bitPattern: -1) else {
            throw KinemaError.io("\(path): cannot map \(size) bytes (\(String(cString: strerror(errno))))")
        }
        return (mapped, size)
    }

    // MARK: Header validation

    struct ParsedEntry {
        let info: SafeTensorInfo
        let fileOffset: Int
    }

    struct ParsedHeader {
        let entries: [String: ParsedEntry]
        let metadata: [String: String]
    }

    /// Validates the header of a safetensors image of `fileSize` bytes at `base`.
    /// Error messages name the problem; the caller prefixes the file path.
    static func parseHeader(base: UnsafeRawPointer, fileSize: Int) throws -> ParsedHeader {
        let declared = UInt64(littleEndian: base.loadUnaligned(as: UInt64.self))
        guard declared > 0 else {
            throw KinemaError.corrupt("header length is 0")
        }
        guard declared <= UInt64(maxHeaderBytes) else {
            throw KinemaError.corrupt("header length \(declared) exceeds the \(maxHeaderBytes)-byte limit")
        }
        let headerLength = Int(declared)
        guard headerLength <= fileSize - 8 else {
            throw KinemaError.corrupt("header length \(headerLength) runs past the end of the file (\(fileSize) bytes)")
        }
        let dataStart = 8 + headerLength
        let dataSize = fileSize - dataStart
        let headerBytes = Data(bytes: base + 8, count: headerLength)

        let json: JSONValue
        do {
            json = try JSONValue.parse(headerBytes)
        } catch let error as KinemaError {
            throw KinemaError.corrupt("header is \(error.message)")
        }
        guard case .object(let object) = json else {
            throw KinemaError.corrupt("header is \(json.kindName), expected a JSON object")
        }

        var metadata: [String: String] = [:]
        var entries: [String: ParsedEntry] = [:]
        var unsupported: [(name: String, dtype: String)] = []
        var ranges: [(begin: Int, end: Int, name: String)] = []

        for (name, value) in object {
            if name == "__metadata__" {
                metadata = try parseMetadata(value)
                continue
            }
            guard case .object(let fields) = value else {
                throw KinemaError.corrupt("tensor '\(name)' is \(value.kindName), expected an object")
            }
            guard let dtypeName = fields["dtype"]?.stringValue else {
                throw KinemaError.corrupt("tensor '\(name)' has no string 'dtype'")
            }
            guard let bits = DType.formatWidths[dtypeName] else {
                throw KinemaError.corrupt("tensor '\(name)' has unknown dtype '\(dtypeName)'")
            }
            let shape = try integers(fields["shape"], what: "shape", tensor: name)
            let offsets = try integers(fields["data_offsets"], what: "data_offsets", tensor: name)
            guard offsets.count == 2 else {
                throw KinemaError.corrupt("tensor '\(name)': data_offsets has \(offsets.count) entries, expected 2")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin <= end else {
                throw KinemaError.corrupt("tensor '\(name)': data_offsets [\(begin), \(end)] end before they begin")
            }
            guard end <= dataSize else {
                throw KinemaError.corrupt("tensor '\(name)': data_offsets [\(begin), \(end)] lie outside the data section (\(dataSize) bytes)")
            }
            var elements = 1
            for dimension in shape {
                let (product, overflow) = elements.multipliedReportingOverflow(by: dimension)
                guard !overflow else {
                    throw KinemaError.corrupt("tensor '\(name)': shape \(shape) is too large")
                }
                elements = product
            }
            let (totalBits, overflow) = elements.multipliedReportingOverflow(by: bits)
            guard !overflow, totalBits % 8 == 0 else {
                throw KinemaError.corrupt("tensor '\(name)': shape \(shape) of \(dtypeName) is not a whole number of bytes")
            }
            guard totalBits / 8 == end - begin else {
                throw KinemaError.corrupt("tensor '\(name)': \(dtypeName) × shape \(shape) is \(totalBits / 8) bytes but data_offsets [\(begin), \(end)] span \(end - begin)")
            }
            ranges.append((begin, end, name))
            guard let dtype = DType(rawValue: dtypeName) else {
                unsupported.append((name, dtypeName))
                continue
            }
            entries[name] = ParsedEntry(
                info: SafeTensorInfo(dtype: dtype, shape: shape, byteCount: end - begin),
                fileOffset: dataStart + begin)
        }

        // Two tensors must never share bytes (zero-sized tensors occupy none).
        let occupied = ranges.filter { $0.begin < $0.end }.sorted { ($0.begin, $0.name) < ($1.begin, $1.name) }
        for (previous, next) in zip(occupied, occupied.dropFirst()) where next.begin < previous.end {
            throw KinemaError.corrupt("tensors '\(previous.name)' [\(previous.begin), \(previous.end)] and '\(next.name)' [\(next.begin), \(next.end)] overlap")
        }

        if let first = unsupported.min(by: { $0.name < $1.name }) {
            throw KinemaError.unsupported("tensor '\(first.name)' has dtype \(first.dtype); only F32, F16 and BF16 can be read")
        }
        return ParsedHeader(entries: entries, metadata: metadata)
    }

    private static func parseMetadata(_ value: JSONValue) throws -> [String: String] {
        guard case .object(let fields) = value else {
            throw KinemaError.corrupt("__metadata__ is \(value.kindName), expected an object of strings")
        }
        var metadata: [String: String] = [:]
        for (key, item) in fields {
            guard let text = item.stringValue else {
                throw KinemaError.corrupt("__metadata__ value '\(key)' is \(item.kindName), expected a string")
            }
            metadata[key] = text
        }
        return metadata
    }

    private static func integers(_ value: JSONValue?, what: String, tensor: String) throws -> [Int] {
        guard let value else {
            throw KinemaError.corrupt("tensor '\(tensor)' has no '\(what)'")
        }
        guard case .array(let items) = value else {
            throw KinemaError.corrupt("tensor '\(tensor)': '\(what)' is \(value.kindName), expected an array of integers")
        }
        return try items.map { item in
            guard case .int(let number) = item else {
                throw KinemaError.corrupt("tensor '\(tensor)': '\(what)' holds \(item.kindName), expected non-negative integers")
            }
            guard number >= 0 else {
                throw KinemaError.corrupt("tensor '\(tensor)': '\(what)' holds the negative value \(number)")
            }
            return number
        }
    }
}

/// Copies `count` elements of `T` from possibly unaligned bytes into a new array.
private func copyElements<T>(_ type: T.Type, from source: UnsafeRawPointer, count: Int) -> [T] {
    [T](unsafeUninitializedCapacity: count) { buffer, initialized in
        if let out = buffer.baseAddress {
            UnsafeMutableRawPointer(out).copyMemory(from: source, byteCount: count * MemoryLayout<T>.stride)
        }
        initialized = count
    }
}

// MARK: - Conveniences for loaders

extension TensorSource {
    /// Whether a tensor of that name exists.
    public func contains(_ name: String) -> Bool {
        info(name) != nil
    }

    /// The tensor as float32, after checking that its shape is `shape`.
    public func tensor(_ name: String, shape: [Int]) throws -> Tensor {
        try checkShape(name, shape)
        return try tensor(name)
    }

    /// The tensor in stored precision, after checking that its shape is `shape`.
    public func weight(_ name: String, shape: [Int]) throws -> WeightData {
        try checkShape(name, shape)
        return try weight(name)
    }

    /// Checks that the source holds exactly the expected tensors with the expected shapes.
    /// The error lists every missing, unexpected and wrongly shaped tensor (up to 20 of each).
    public func checkTensors(_ expected: [String: [Int]]) throws {
        var missing: [String] = []
        var wrongShape: [String] = []
        for (name, shape) in expected.sorted(by: { $0.key < $1.key }) {
            guard let info = info(name) else {
                missing.append(name)
                continue
            }
            if info.shape != shape { wrongShape.append("\(name) is \(info.shape), expected \(shape)") }
        }
        let unexpected = names.filter { expected[$0] == nil }
        guard missing.isEmpty, unexpected.isEmpty, wrongShape.isEmpty else {
            func list(_ items: [String]) -> String {
                items.count <= 20 ? items.joined(separator: ", ")
                    : items.prefix(20).joined(separator: ", ") + " and \(items.count - 20) more"
            }
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing \(missing.count): \(list(missing))") }
            if !unexpected.isEmpty { parts.append("unexpected \(unexpected.count): \(list(unexpected))") }
            if !wrongShape.isEmpty { parts.append("wrong shape \(wrongShape.count): \(list(wrongShape))") }
            let code: KinemaError.Code = missing.isEmpty && unexpected.isEmpty ? .shapeMismatch : .missingComponent
            throw KinemaError(code, "\(url.path): tensors do not match the model; " + parts.joined(separator: "; "))
        }
    }

    private func checkShape(_ name: String, _ shape: [Int]) throws {
        guard let info = info(name) else {
            throw KinemaError(.missingComponent, "\(url.path): no tensor named '\(name)'")
        }
        guard info.shape == shape else {
            throw KinemaError.shape("\(url.path): tensor '\(name)' has shape \(info.shape), expected \(shape)")
        }
    }
}
