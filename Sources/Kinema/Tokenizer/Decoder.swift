// Follows huggingface/tokenizers, tokenizers/src/decoders/ (metaspace in
// pre_tokenizers/metaspace.rs, byte_fallback.rs, fuse.rs, strip.rs, sequence.rs, and the
// `Replace` decoder in normalizers/replace.rs). Each stage maps a list of token strings to a
// new list; the results are concatenated at the end.

/// The decoding stage: turns token strings back into text.
indirect enum TokenDecoder: Sendable {
    case sequence([TokenDecoder])
    case metaspace(Metaspace)
    case replace([Unicode.Scalar], String)
    case byteFallback
    case fuse
    case strip(content: Unicode.Scalar, start: Int, stop: Int)

    init(_ spec: DecoderSpec) throws {
        switch spec {
        case .sequence(let items): self = .sequence(try items.map(TokenDecoder.init))
        case .metaspace(let m): self = .metaspace(Metaspace(m))
        case .replace(let pattern, let content):
            guard case .string(let literal) = pattern else {
                throw KinemaError.unsupported("decoder Replace with a regex pattern is not supported")
            }
            self = .replace(Array(literal.unicodeScalars), content)
        case .byteFallback: self = .byteFallback
        case .fuse: self = .fuse
        case .strip(let content, let start, let stop): self = .strip(content: content, start: start, stop: stop)
        }
    }

    func decode(_ tokens: [String]) -> [String] {
        switch self {
        case .sequence(let items):
            return items.reduce(tokens) { $1.decode($0) }
        case .metaspace(let metaspace):
            return metaspace.decode(tokens)
        case .replace(let needle, let content):
            return tokens.map { Self.replace(needle, with: content, in: $0) }
        case .byteFallback:
            return Self.byteFallback(tokens)
        case .fuse:
            return [tokens.joined()]
        case .strip(let content, let start, let stop):
            return tokens.map { Self.strip($0, content: content, start: start, stop: stop) }
        }
    }

    private static func replace(_ needle: [Unicode.Scalar], with content: String, in token: String) -> String {
        let scalars = Array(token.unicodeScalars)
        let matches = TextPattern.literalMatches(of: needle, in: scalars)
        if matches.isEmpty { return token }
        var out = String.UnicodeScalarView()
        var last = 0
        for m in matches {
            out.append(contentsOf: scalars[last..<m.lowerBound])
            out.append(contentsOf: content.unicodeScalars)
            last = m.upperBound
        }
        out.append(contentsOf: scalars[last...])
        return String(out)
    }

    /// "<0xNN>" tokens become bytes; a run of them is decoded as UTF-8, or becomes one U+FFFD
    /// per byte when it is not valid UTF-8.
    private static func byteFallback(_ tokens: [String]) -> [String] {
        var out: [String] = []
        var pending: [UInt8] = []
        func flush() {
            guard !pending.isEmpty else { return }
            if let text = String(validating: pending, as: UTF8.self) {
                out.append(text)
            } else {
                out.append(contentsOf: repeatElement("\u{FFFD}", count: pending.count))
            }
            pending.removeAll()
        }
        for token in tokens {
            if let byte = byteValue(token) {
                pending.append(byte)
            } else {
                flush()
                out.append(token)
            }
        }
        flush()
        return out
    }

    /// The byte of a "<0xNN>" token, parsed as Rust's `u8::from_str_radix(_, 16)` does.
    private static func byteValue(_ token: String) -> UInt8? {
        let bytes = Array(token.utf8)
        guard bytes.count == 6, bytes[0] == UInt8(ascii: "<"), bytes[1] == UInt8(ascii: "0"),
              bytes[2] == UInt8(ascii: "x"), bytes[5] == UInt8(ascii: ">") else { return nil }
        func hex(_ b: UInt8) -> UInt8? {
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        if bytes[3] == UInt8(ascii: "+") { return hex(bytes[4]) }
        guard let high = hex(bytes[3]), let low = hex(bytes[4]) else { return nil }
        return high << 4 | low
    }

    /// Removes up to `start` leading and `stop` trailing copies of `content` from a token.
    private static func strip(_ token: String, content: Unicode.Scalar, start: Int, stop: Int) -> String {
        let scalars = Array(token.unicodeScalars)
        var startCut = 0
        for i in 0..<min(start, scalars.count) {
            guard scalars[i] == content else { break }
            startCut = i + 1
        }
        var stopCut = scalars.count
        for i in 0..<min(stop, scalars.count) {
            let index = scalars.count - i - 1
            guard scalars[index] == content else { break }
            stopCut = index
        }
        guard startCut < stopCut else { return "" }
        return String(String.UnicodeScalarView(scalars[startCut..<stopCut]))
    }
}
