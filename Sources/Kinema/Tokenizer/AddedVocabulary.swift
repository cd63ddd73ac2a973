// Follows huggingface/tokenizers, tokenizers/src/tokenizer/added_vocabulary.rs
// (`add_tokens`, `find_matches`, `extract_and_normalize`) and serialization.rs (how
// "added_tokens" are loaded).
//
// Added tokens (T5's <pad>, </s>, <unk> and <extra_id_N>) are cut out of the text before
// anything else runs, so "</s>" typed in a prompt becomes the end-of-sequence id. Tokens with
// `normalized: false` are found in the raw input; those with `normalized: true` are found, in
// their normalized form, in the normalized text of the pieces in between.

/// One piece of the input after added tokens have been cut out: either a token or text.
enum AddedTokenSplit {
    case token(Int32)
    case text(NormalizedText)
}

struct AddedVocabulary: Sendable {
    struct Token: Sendable {
        let content: String
        let id: Int32
        let singleWord: Bool
        let lstrip: Bool
        let rstrip: Bool
        let normalized: Bool
        let special: Bool
    }

    /// Tokens by id, for decoding.
    private let tokensById: [Int32: Token]
    private let idsByContent: [String: Int32]
    /// The text each added id decodes to: its content, or its normalized form when the token
    /// is normalized and the normalizer changes it (`simple_id_to_token`).
    private let decodedContent: [Int32: String]
    /// Contents of the special tokens, which `decode(skipSpecialTokens: true)` drops.
    let specialContents: Set<String>
    private let rawMatcher: LeftmostLongestMatcher?
    private let normalizedMatcher: LeftmostLongestMatcher?

    init(_ specs: [AddedTokenSpec], model: UnigramModel, normalizer: Normalizer?) throws {
        var byContent: [String: Int32] = [:]
        var tokensById: [Int32: Token] = [:]
        var special = Set<String>()
        // An added token takes the id its content already has, among the added tokens or in the
        // model; a new content gets the next id after the model's (the file's "id" is advisory).
        var nextId = model.pieces.count
        for spec in specs where !spec.content.isEmpty {
            let id: Int32
            if let existing = byContent[spec.content] ?? model.id(of: spec.content) {
                id = existing
            } else {
                guard nextId < Int(Int32.max) else {
                    throw KinemaError.corrupt("too many added tokens")
                }
                id = Int32(nextId)
                nextId += 1
            }
            byContent[spec.content] = id
            if spec.special { special.insert(spec.content) }
            tokensById[id] = Token(content: spec.content, id: id, singleWord: spec.singleWord, lstrip: spec.lstrip,
                                   rstrip: spec.rstrip, normalized: spec.normalized, special: spec.special)
        }

        var decodedContent: [Int32: String] = [:]
        var raw: [(pattern: [UInt8], id: Int32)] = []
        var normalizedPatterns: [(pattern: [UInt8], id: Int32)] = []
        for (id, token) in tokensById {
            var pattern = token.content
            if token.normalized, let normalizer {
                var text = NormalizedText(original: token.content.unicodeScalars, byteOffset: 0)
                try normalizer.normalize(&text)
                pattern = text.string
            }
            decodedContent[id] = pattern
            if token.normalized {
                if !pattern.isEmpty { normalizedPatterns.append((Array(pattern.utf8), id)) }
            } else {
                raw.append((Array(pattern.utf8), id))
            }
        }
        self.tokensById = tokensById
        self.idsByContent = byContent
        self.decodedContent = decodedContent
        self.specialContents = special
        self.rawMatcher = raw.isEmpty ? nil : LeftmostLongestMatcher(raw)
        self.normalizedMatcher = normalizedPatterns.isEmpty ? nil : LeftmostLongestMatcher(normalizedPatterns)
    }

    func id(of content: String) -> Int32? { idsByContent[content] }

    /// The largest added id, or nil when there are no added tokens.
    var maxId: Int32? { tokensById.keys.max() }

    /// The text an added id decodes to, or nil when `id` is not an added token.
    func decodedText(of id: Int32) -> String? { decodedContent[id] }

    /// Cuts added tokens out of `text`, normalizing the text in between.
    func extractAndNormalize(_ text: String, normalizer: Normalizer?) throws -> [AddedTokenSplit] {
        let scalars = Array(text.unicodeScalars)
        let utf8 = Array(text.utf8)
        var result: [AddedTokenSplit] = []
        for part in split(utf8, scalars: scalars, matcher: rawMatcher) {
            switch part {
            case .token:
                result.append(part)
            case .text(var piece):
                try normalizer?.normalize(&piece)
                if let normalizedMatcher {
                    result.append(contentsOf: split(piece.utf8, scalars: piece.scalars, matcher: normalizedMatcher,
                                                    parent: piece))
                } else if !piece.isEmpty {
                    result.append(.text(piece))
                }
            }
        }
        return result
    }

    /// `split_with_indices` on the raw text (when `parent` is nil) or on a normalized piece.
    private func split(_ utf8: [UInt8], scalars: [Unicode.Scalar], matcher: LeftmostLongestMatcher?,
                       parent: NormalizedText? = nil) -> [AddedTokenSplit] {
        let whole = parent ?? NormalizedText(original: scalars, byteOffset: 0)
        guard let matcher else { return whole.isEmpty ? [] : [.text(whole)] }
        // Byte offset -> scalar index, for the scalar boundaries the matches fall on.
        var scalarIndex = [Int](repeating: 0, count: utf8.count + 1)
        var b = 0
        for (i, s) in scalars.enumerated() {
            let w = UTF8.width(s)
            for k in 0..<w { scalarIndex[b + k] = i }
            b += w
        }
        scalarIndex[utf8.count] = scalars.count

        var result: [AddedTokenSplit] = []
        var startOffset = 0
        func emitText(_ from: Int, _ to: Int) {
            let range = scalarIndex[from]..<scalarIndex[to]
            if !range.isEmpty { result.append(.text(whole.slice(range))) }
        }
        for m in matcher.matches(in: utf8) {
            guard let token = tokensById[m.id] else { continue }
            var start = m.start
            var stop = m.end
            if token.singleWord {
                let startSpace = start == 0 || !Self.isWordScalar(scalars[scalarIndex[start] - 1])
                let stopSpace = stop == utf8.count || !Self.isWordScalar(scalars[scalarIndex[stop]])
                if !startSpace || !stopSpace { continue }
            }
            if token.lstrip {
                var newStart = start
                while newStart > 0 {
                    let previous = scalarIndex[newStart - 1]
                    guard scalars[previous].isUnicodeWhitespace else { break }
                    newStart -= UTF8.width(scalars[previous])
                }
                start = max(newStart, startOffset)
            }
            if token.rstrip {
                while stop < utf8.count, scalars[scalarIndex[stop]].isUnicodeWhitespace {
                    stop += UTF8.width(scalars[scalarIndex[stop]])
                }
            }
            if startOffset < start { emitText(startOffset, start) }
            result.append(.token(m.id))
            startOffset = stop
        }
        if startOffset < utf8.count { emitText(startOffset, utf8.count) }
        return result
    }

    /// Regex `\w` of the Rust regex crate (UTS #18): Alphabetic, marks, decimal digits,
    /// connector punctuation and Join_Control.
    private static func isWordScalar(_ s: Unicode.Scalar) -> Bool {
        let p = s.properties
        if p.isAlphabetic || p.isJoinControl { return true }
        switch p.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark, .decimalNumber, .connectorPunctuation: return true
        default: return false
        }
    }
}

/// Finds non-overlapping pattern occurrences, leftmost first and, among those starting at the
/// same byte, the longest (daachorse's `MatchKind::LeftmostLongest`, as the reference uses).
struct LeftmostLongestMatcher: Sendable {
    private let trie: ByteTrie

    init(_ patterns: [(pattern: [UInt8], id: Int32)]) {
        trie = ByteTrie(pieces: patterns.map { (bytes: $0.pattern, id: $0.id) })
    }

    func matches(in bytes: [UInt8]) -> [(start: Int, end: Int, id: Int32)] {
        var result: [(start: Int, end: Int, id: Int32)] = []
        bytes.withUnsafeBufferPointer { buffer in
            var i = 0
            while i < buffer.count {
                var best: (length: Int, id: Int32)? = nil
                trie.forEachPrefix(of: buffer, from: i) { length, id in best = (length, id) }
                if let best {
                    result.append((i, i + best.length, best.id))
                    i += best.length
                } else {
                    i += 1
                }
            }
        }
        return result
    }
}
