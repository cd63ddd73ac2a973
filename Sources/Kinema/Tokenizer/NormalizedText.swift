// Follows huggingface/tokenizers, tokenizers/src/tokenizer/normalizer.rs (`NormalizedString`).
//
// Text is held as Unicode scalars because every normalizer and pre-tokenizer of the reference
// works on Rust `char`s (scalars), never on grapheme clusters or UTF-16 units; the one
// exception, the Precompiled normalizer, groups scalars into graphemes itself.
//
// The reference also tracks, for every normalized byte, the range of original bytes it came
// from. Token ids depend on that bookkeeping in exactly one place: Metaspace with
// prepend_scheme "first" adds "▁" only to a split whose original text starts at offset 0.
// So this type keeps only the start of that range, per scalar, with the same rules as
// `NormalizedString::transform_range`: a scalar that replaces an old one inherits the old
// one's origin; an inserted scalar inherits the origin of the old scalar just before it (or
// the start of the string when there is none).

struct NormalizedText {
    /// The normalized text.
    var scalars: [Unicode.Scalar]
    /// For each scalar, the UTF-8 byte offset in the text given to `encode` where it came from.
    var origins: [Int]
    /// Where this piece's original text starts (`NormalizedString::offsets_original().0`).
    var originStart: Int

    /// An unnormalized piece of the input whose first scalar sits at byte `byteOffset`.
    init<S: Sequence>(original scalars: S, byteOffset: Int) where S.Element == Unicode.Scalar {
        self.scalars = Array(scalars)
        var origins: [Int] = []
        origins.reserveCapacity(self.scalars.count)
        var offset = byteOffset
        for s in self.scalars {
            origins.append(offset)
            offset += UTF8.width(s)
        }
        self.origins = origins
        self.originStart = byteOffset
    }

    init(scalars: [Unicode.Scalar], origins: [Int], originStart: Int) {
        self.scalars = scalars
        self.origins = origins
        self.originStart = originStart
    }

    var isEmpty: Bool { scalars.isEmpty }

    var string: String {
        var s = String.UnicodeScalarView()
        s.append(contentsOf: scalars)
        return String(s)
    }

    /// The text as UTF-8 bytes.
    var utf8: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(scalars.count * 2)
        for s in scalars { UTF8.encode(s) { bytes.append($0) } }
        return bytes
    }

    /// A sub-range of the scalars, as `NormalizedString::slice` makes it: the slice's original
    /// text starts where its first scalar came from.
    func slice(_ range: Range<Int>) -> NormalizedText {
        let start = range.isEmpty ? originStart : origins[range.lowerBound]
        return NormalizedText(scalars: Array(scalars[range]), origins: Array(origins[range]), originStart: start)
    }

    /// One output scalar of a transformation and how it relates to the old text:
    /// `0` replaces the next old scalar, `1` is inserted, `-n` replaces the next old scalar and
    /// removes the `n` old scalars after it.
    struct Change {
        var scalar: Unicode.Scalar
        var change: Int
    }

    /// Replaces the whole text with `changes` (`NormalizedString::transform`), after skipping
    /// `initialOffset` removed scalars at the start.
    mutating func transform(_ changes: [Change], initialOffset: Int) {
        var newScalars: [Unicode.Scalar] = []
        var newOrigins: [Int] = []
        newScalars.reserveCapacity(changes.count)
        newOrigins.reserveCapacity(changes.count)
        var position = initialOffset  // index of the next old scalar
        for change in changes {
            newScalars.append(change.scalar)
            if change.change > 0 {
                newOrigins.append(origin(before: position))
            } else {
                newOrigins.append(origin(at: position))
                position += 1 - change.change
            }
        }
        scalars = newScalars
        origins = newOrigins
    }

    /// Replaces each of `matches` (ascending, non-overlapping scalar ranges) with `content`
    /// (`NormalizedString::replace`: the new scalars count as inserted after the match).
    mutating func replace(_ matches: [Range<Int>], with content: [Unicode.Scalar]) {
        guard !matches.isEmpty else { return }
        var newScalars: [Unicode.Scalar] = []
        var newOrigins: [Int] = []
        newScalars.reserveCapacity(scalars.count)
        newOrigins.reserveCapacity(scalars.count)
        var last = 0
        for m in matches {
            newScalars.append(contentsOf: scalars[last..<m.lowerBound])
            newOrigins.append(contentsOf: origins[last..<m.lowerBound])
            let origin = origin(before: m.upperBound)
            for s in content {
                newScalars.append(s)
                newOrigins.append(origin)
            }
            last = m.upperBound
        }
        newScalars.append(contentsOf: scalars[last...])
        newOrigins.append(contentsOf: origins[last...])
        scalars = newScalars
        origins = newOrigins
    }

    /// Prepends `prefix` (`NormalizedString::prepend`); nothing happens to an empty text.
    mutating func prepend(_ prefix: [Unicode.Scalar]) {
        guard let first = origins.first else { return }
        scalars.insert(contentsOf: prefix, at: 0)
        origins.insert(contentsOf: repeatElement(first, count: prefix.count), at: 0)
    }

    private func origin(at position: Int) -> Int {
        if position < origins.count { return origins[position] }
        return origins.last ?? originStart
    }

    private func origin(before position: Int) -> Int {
        if position < 1 { return originStart }
        return origin(at: position - 1)
    }
}

extension Unicode.Scalar {
    /// Unicode White_Space, the set Rust's `char::is_whitespace` uses (and so WhitespaceSplit,
    /// Strip and the added-token lstrip/rstrip rules of the reference).
    var isUnicodeWhitespace: Bool { properties.isWhitespace }
}
