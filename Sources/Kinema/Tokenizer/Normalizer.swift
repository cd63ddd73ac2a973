// Follows huggingface/tokenizers, tokenizers/src/normalizers/ (mod.rs, precompiled.rs,
// replace.rs, strip.rs, prepend.rs, unicode.rs).

import Foundation

/// The normalization stage: rewrites the text of each piece between added tokens.
indirect enum Normalizer: Sendable {
    case sequence([Normalizer])
    case precompiled(PrecompiledCharsmap)
    case replace(TextPattern, [Unicode.Scalar])
    case strip(left: Bool, right: Bool)
    case prepend([Unicode.Scalar])
    case unicode(UnicodeNormalizationForm)

    init(_ spec: NormalizerSpec) throws {
        switch spec {
        case .sequence(let items): self = .sequence(try items.map(Normalizer.init))
        case .precompiled(let charsmap): self = .precompiled(try PrecompiledCharsmap(base64: charsmap))
        case .replace(let pattern, let content): self = .replace(try TextPattern(pattern), Array(content.unicodeScalars))
        case .strip(let left, let right): self = .strip(left: left, right: right)
        case .prepend(let prefix): self = .prepend(Array(prefix.unicodeScalars))
        case .unicode(let form): self = .unicode(form)
        }
    }

    func normalize(_ text: inout NormalizedText) throws {
        switch self {
        case .sequence(let items):
            for item in items { try item.normalize(&text) }
        case .precompiled(let charsmap):
            try charsmap.normalize(&text)
        case .replace(let pattern, let content):
            text.replace(try pattern.matches(in: text.scalars), with: content)
        case .strip(let left, let right):
            Self.strip(&text, left: left, right: right)
        case .prepend(let prefix):
            text.prepend(prefix)
        case .unicode(let form):
            Self.normalizeUnicode(&text, form)
        }
    }

    /// `NormalizedString::lrstrip`: drops leading and/or trailing White_Space scalars; the kept
    /// scalars keep their origins.
    private static func strip(_ text: inout NormalizedText, left: Bool, right: Bool) {
        var start = 0
        var end = text.scalars.count
        if left {
            while start < end, text.scalars[start].isUnicodeWhitespace { start += 1 }
        }
        if right {
            while end > start, text.scalars[end - 1].isUnicodeWhitespace { end -= 1 }
        }
        if start == 0, end == text.scalars.count { return }
        text.scalars = Array(text.scalars[start..<end])
        text.origins = Array(text.origins[start..<end])
    }

    /// NFC/NFD/NFKC/NFKD. The reference normalizes the whole string with the
    /// unicode-normalization-alignments crate; here each grapheme cluster is normalized on its
    /// own with Foundation, which gives the same text because no composition or reordering
    /// crosses a cluster boundary (clusters keep combining marks, Hangul jamo and the
    /// half-width voiced marks with their base). Every scalar produced from a cluster takes the
    /// origin of the cluster's first scalar, which is what the reference's alignments give for
    /// the first scalar of each cluster, the only origin that ids depend on (see
    /// NormalizedText).
    private static func normalizeUnicode(_ text: inout NormalizedText, _ form: UnicodeNormalizationForm) {
        // ASCII text is unchanged by every normalization form.
        if text.scalars.allSatisfy({ $0.isASCII }) { return }
        var scalars: [Unicode.Scalar] = []
        var origins: [Int] = []
        scalars.reserveCapacity(text.scalars.count)
        origins.reserveCapacity(text.scalars.count)
        var index = 0
        for grapheme in text.string {
            let count = grapheme.unicodeScalars.count
            let origin = text.origins[index]
            index += count
            let normalized = Self.normalize(String(grapheme), form)
            for s in normalized.unicodeScalars {
                scalars.append(s)
                origins.append(origin)
            }
        }
        text.scalars = scalars
        text.origins = origins
    }

    /// Foundation's compatibility decomposition on Linux does not reorder the combining marks
    /// it produces (NFKD of "γ\u{303}\u{FF9E}" keeps U+0303 before U+3099), and its NFKC skips
    /// the composition that follows ("ｶﾞ" stays カ + U+3099). So decompositions are put in
    /// canonical order here, and NFKC is built as NFC of the ordered NFKD, which is its
    /// definition.
    private static func normalize(_ text: String, _ form: UnicodeNormalizationForm) -> String {
        switch form {
        case .nfc: return text.precomposedStringWithCanonicalMapping
        case .nfd: return canonicallyOrdered(text.decomposedStringWithCanonicalMapping)
        case .nfkd: return canonicallyOrdered(text.decomposedStringWithCompatibilityMapping)
        case .nfkc: return canonicallyOrdered(text.decomposedStringWithCompatibilityMapping).precomposedStringWithCanonicalMapping
        }
    }

    /// The Canonical Ordering Algorithm: a stable sort of each run of non-starters by
    /// canonical combining class.
    private static func canonicallyOrdered(_ text: String) -> String {
        var scalars = Array(text.unicodeScalars)
        var i = 0
        while i < scalars.count {
            guard scalars[i].properties.canonicalCombiningClass.rawValue != 0 else { i += 1; continue }
            var end = i
            while end < scalars.count, scalars[end].properties.canonicalCombiningClass.rawValue != 0 { end += 1 }
            if end - i > 1 {
                let run = scalars[i..<end].enumerated().sorted {
                    let a = $0.element.properties.canonicalCombiningClass.rawValue
                    let b = $1.element.properties.canonicalCombiningClass.rawValue
                    return a != b ? a < b : $0.offset < $1.offset
                }
                scalars.replaceSubrange(i..<end, with: run.map(\.element))
            }
            i = end
        }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }
}
