// Follows huggingface/tokenizers, tokenizers/src/tokenizer/pattern.rs and utils/onig.rs: the
// pattern of a `Replace` normalizer or decoder, a literal string or a regular expression.
//
// The reference compiles regexes with Oniguruma; here they run on Swift's Regex engine with
// Unicode-scalar semantics (the reference matches on scalars, not grapheme clusters). The two
// agree on the patterns tokenizer.json files carry in practice (" {2,}", "\A +| +\z", "\A▁");
// Oniguruma-only syntax is reported as unsupported when the file is loaded.

/// A literal or regex pattern, matched over a scalar array.
struct TextPattern: @unchecked Sendable {
    // `Regex` is immutable once built and is only read here; it is not marked Sendable on
    // every platform, hence the unchecked conformance.
    private enum Kind {
        case literal([Unicode.Scalar])
        case regex(Regex<AnyRegexOutput>)
    }
    private let kind: Kind
    private let source: String

    init(_ spec: PatternSpec) throws {
        switch spec {
        case .string(let s):
            kind = .literal(Array(s.unicodeScalars))
            source = s
        case .regex(let source):
            self.source = source
            do {
                kind = .regex(try Regex(source).matchingSemantics(.unicodeScalar))
            } catch {
                throw KinemaError.unsupported("regex pattern \"\(source)\" is not supported (\(error))")
            }
        }
    }

    /// Non-overlapping matches, left to right, as scalar index ranges.
    func matches(in scalars: [Unicode.Scalar]) throws -> [Range<Int>] {
        switch kind {
        case .literal(let needle):
            return Self.literalMatches(of: needle, in: scalars)
        case .regex(let regex):
            return try regexMatches(of: regex, in: scalars)
        }
    }


    /// Non-overlapping occurrences of `needle`, left to right (`str::match_indices`).
    static func literalMatches(of needle: [Unicode.Scalar], in scalars: [Unicode.Scalar]) -> [Range<Int>] {
        // An empty literal matches nothing (pattern.rs: `if self.is_empty()`).
        guard let first = needle.first, needle.count <= scalars.count else { return [] }
        var result: [Range<Int>] = []
        var i = 0
        let last = scalars.count - needle.count
        while i <= last {
            if scalars[i] == first {
                var j = 1
                while j < needle.count, scalars[i + j] == needle[j] { j += 1 }
                if j == needle.count {
                    result.append(i..<(i + needle.count))
                    i += needle.count
                    continue
                }
            }
            i += 1
        }
        return result
    }

    private func regexMatches(of regex: Regex<AnyRegexOutput>, in scalars: [Unicode.Scalar]) throws -> [Range<Int>] {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        let text = String(view)
        var result: [Range<Int>] = []
        // Convert String indices to scalar offsets with one forward walk.
        var walkedIndex = text.unicodeScalars.startIndex
        var walkedOffset = 0
        func offset(of index: String.Index) -> Int {
            walkedOffset += text.unicodeScalars.distance(from: walkedIndex, to: index)
            walkedIndex = index
            return walkedOffset
        }
        for match in text.matches(of: regex) {
            let lower = offset(of: match.range.lowerBound)
            let upper = offset(of: match.range.upperBound)
            // Oniguruma and Swift step past empty matches differently; rather than risk
            // different output, a pattern that matches the empty string is refused.
            guard upper > lower else {
                throw KinemaError.unsupported("regex pattern \"\(source)\" matched an empty string")
            }
            result.append(lower..<upper)
        }
        return result
    }
}
