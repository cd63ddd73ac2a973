// Follows huggingface/tokenizers, tokenizers/src/pre_tokenizers/ (whitespace.rs, metaspace.rs,
// sequence.rs) and tokenizer/pre_tokenizer.rs (`PreTokenizedString::split`, which drops empty
// splits after every stage).

/// The pre-tokenization stage: cuts normalized text into the words the model sees one by one.
indirect enum PreTokenizer: Sendable {
    case sequence([PreTokenizer])
    case whitespaceSplit
    case metaspace(Metaspace)

    init(_ spec: PreTokenizerSpec) {
        switch spec {
        case .sequence(let items): self = .sequence(items.map(PreTokenizer.init))
        case .whitespaceSplit: self = .whitespaceSplit
        case .metaspace(let m): self = .metaspace(Metaspace(m))
        }
    }

    /// Splits every piece of `pieces`; empty results are dropped.
    func split(_ pieces: [NormalizedText]) -> [NormalizedText] {
        switch self {
        case .sequence(let items):
            var current = pieces
            for item in items { current = item.split(current) }
            return current
        case .whitespaceSplit:
            return pieces.flatMap(Self.splitOnWhitespace)
        case .metaspace(let metaspace):
            return pieces.flatMap(metaspace.split)
        }
    }

    /// WhitespaceSplit: maximal runs of non-White_Space scalars.
    private static func splitOnWhitespace(_ text: NormalizedText) -> [NormalizedText] {
        var result: [NormalizedText] = []
        var start: Int? = nil
        for (i, s) in text.scalars.enumerated() {
            if s.isUnicodeWhitespace {
                if let st = start { result.append(text.slice(st..<i)); start = nil }
            } else if start == nil {
                start = i
            }
        }
        if let st = start { result.append(text.slice(st..<text.scalars.count)) }
        return result
    }
}

/// Metaspace: spaces become "▁", a "▁" is put in front as the prepend scheme says, and the
/// text is cut before every "▁" (the reference's `MergedWithNext` split on the replacement).
struct Metaspace: Sendable {
    let replacement: Unicode.Scalar
    let prependScheme: PrependScheme
    let splitsOnReplacement: Bool

    init(_ spec: MetaspaceSpec) {
        replacement = spec.replacement
        prependScheme = spec.prependScheme
        splitsOnReplacement = spec.split
    }

    func split(_ input: NormalizedText) -> [NormalizedText] {
        var text = input
        // Only U+0020 is replaced (metaspace.rs `normalized.replace(' ', …)`); the new scalar
        // keeps the space's origin.
        for i in text.scalars.indices where text.scalars[i] == " " {
            text.scalars[i] = replacement
        }
        let startsWithReplacement = text.scalars.first == replacement
        switch prependScheme {
        case .always:
            if !startsWithReplacement { text.prepend([replacement]) }
        case .first:
            // Only the piece whose original text starts the whole input gets the prefix.
            if !startsWithReplacement, text.originStart == 0 { text.prepend([replacement]) }
        case .never:
            break
        }
        if text.isEmpty { return [] }
        guard splitsOnReplacement else { return [text] }
        var result: [NormalizedText] = []
        var start = 0
        for i in 1..<max(text.scalars.count, 1) where text.scalars[i] == replacement {
            result.append(text.slice(start..<i))
            start = i
        }
        result.append(text.slice(start..<text.scalars.count))
        return result
    }

    /// The decoder side (metaspace.rs `decode_chain`): "▁" becomes a space, except that the
    /// first token loses it when a prefix was being added.
    func decode(_ tokens: [String]) -> [String] {
        tokens.enumerated().map { index, token in
            var out = String.UnicodeScalarView()
            for s in token.unicodeScalars {
                if s == replacement {
                    if index == 0 && prependScheme != .never { continue }
                    out.append(" ")
                } else {
                    out.append(s)
                }
            }
            return String(out)
        }
    }
}
