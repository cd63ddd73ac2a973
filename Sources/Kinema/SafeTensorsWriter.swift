// Writer for the safetensors format, laid out as huggingface/safetensors serialises
// (safetensors/src/tensor.rs `prepare`): JSON header padded with spaces to a multiple of 8
// bytes, then the tensors' little-endian bytes back to back.

import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes float32 tensors as a safetensors file.
public enum SafeTensorsWriter {
    /// Writes `tensors` (F32) and `metadata` to `url`, through a temporary file in the same
    /// folder that is renamed into place; on failure nothing is left behind. Tensors are laid
    /// out in name order. Throws `.invalidArgument` for empty, duplicate or reserved names and
    /// `.io` naming the path when the file cannot be written.
    public static func write(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:], to url: URL) throws {
        let sorted = tensors.sorted { $0.name < $1.name }
        for (previous, next) in zip(sorted, sorted.dropFirst()) where previous.name == next.name {
            throw KinemaError.invalidArgument("\(url.path): tensor name '\(next.name)' is given twice")
        }
        for item in sorted where item.name.isEmpty || item.name == "__metadata__" {
            throw KinemaError.invalidArgument("\(url.path): '\(item.name)' cannot be used as a tensor name")
        }

        var header = "{"
        var fields: [String] = []
        if !metadata.isEmpty {
            let entries = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
            fields.append("\"__metadata__\":{\(entries.joined(separator: ","))}")
        }
        var offset = 0
        for item in sorted {
            let byteCount = item.tensor.count * 4
            let shape = item.tensor.shape.map(String.init).joined(separator: ",")
            fields.append("\(jsonString(item.name)):{\"dtype\":\"F32\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + byteCount)]}")
            offset += byteCount
        }
        header += fields.joined(separator: ",") + "}"
        var headerBytes = Array(header.utf8)
        headerBytes.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - headerBytes.count % 8) % 8))
        var lengthBytes = [UInt8](repeating: 0, count: 8)
        withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { raw in
            for i in 0..<8 { lengthBytes[i] = raw[i] }
        }

        try AtomicFile.write(to: url) { output in
            try output.write(lengthBytes)
            try output.write(headerBytes)
            for item in sorted {
                try item.tensor.data.withUnsafeBytes { raw in
                    try output.write(raw)
                }
            }
        }
    }

    /// A JSON string literal, escaping quotes, backslashes and control characters.
    static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// Writes a file through a temporary name in the same folder and renames it into place, so a
/// reader sees either the old file or the complete new one, and a failure leaves nothing.
enum AtomicFile {
    /// An open output file descriptor that writes whole buffers.
    struct Output {
        let fd: Int32
        let path: String

        /// Writes all of `bytes`, retrying after interruptions and short writes.
        func write<Bytes: ContiguousBytes>(_ bytes: Bytes) throws {
            try bytes.withUnsafeBytes { raw in
                guard var next = raw.baseAddress else { return }
                var remaining = raw.count
                while remaining > 0 {
                    let written = posixWrite(fd, next, remaining)
                    if written < 0 {
                        if errno == EINTR { continue }
                        throw KinemaError.io("\(path): write failed (\(String(cString: strerror(errno))))")
                    }
                    next += written
                    remaining -= written
                }
            }
        }
    }

    /// Runs `body` on a temporary file next to `url`, then renames it to `url`.
    static func write(to url: URL, _ body: (Output) throws -> Void) throws {
        let folder = url.deletingLastPathComponent()
        let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp").path
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw KinemaError.io("\(url.path): cannot create a file in \(folder.path) (\(String(cString: strerror(errno))))")
        }
        var failure: Error?
        do {
            try body(Output(fd: fd, path: url.path))
        } catch {
            failure = error
        }
        if close(fd) != 0, failure == nil {
            failure = KinemaError.io("\(url.path): closing the file failed (\(String(cString: strerror(errno))))")
        }
        if let failure {
            unlink(temporary)
            throw failure
        }
        guard rename(temporary, url.path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw KinemaError.io("\(url.path): cannot move the written file into place (\(reason))")
        }
    }
}

/// `write(2)`, named apart from `Output.write`.
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, buffer, count)
    #else
    return Darwin.write(fd, buffer, count)
    #endif
}
