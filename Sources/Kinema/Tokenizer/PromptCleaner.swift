// Follows Wan2.1 wan/modules/tokenizers.py (`basic_clean`, `whitespace_clean`) and diffusers
// pipelines/wan/pipeline_wan.py (`prompt_clean`), minus `ftfy.fix_text`, and CPython's
// Lib/html/__init__.py (`unescape`, `_replace_charref`) for the entity rules.

/// The prompt cleaning Wan and diffusers apply before tokenizing.
public enum PromptCleaner {
    /// `html.unescape` twice, then every run of whitespace becomes one space and the ends are
    /// trimmed, exactly as Python's `re.sub(r"\s+", " ", html.unescape(html.unescape(s)).strip()).strip()`.
    ///
    /// ftfy (mojibake repair) is not applied: diffusers skips it when ftfy is missing, and the
    /// prompts Kinema receives are already Unicode text rather than mis-decoded bytes.
    public static func clean(_ s: String) -> String {
        let unescaped = unescapeHTML(unescapeHTML(Array(s.unicodeScalars)))
        var out = String.UnicodeScalarView()
        var pendingSpace = false
        for scalar in unescaped {
            if isPythonWhitespace(scalar) {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(" ") }
                pendingSpace = false
                out.append(scalar)
            }
        }
        return String(out)
    }

    /// Python's `str.isspace()`, which `str.strip()`, `str.split()` and the regex `\s` use:
    /// Unicode White_Space plus U+001C…U+001F (bidirectional class B/S), 29 scalars in all.
    static func isPythonWhitespace(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    // MARK: - html.unescape

    /// Python's `html.unescape`: replaces every match of
    /// `&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)` by `_replace_charref`.
    static func unescapeHTML(_ s: [Unicode.Scalar]) -> [Unicode.Scalar] {
        guard s.contains("&") else { return s }
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(s.count)
        var i = 0
        while i < s.count {
            guard s[i] == "&", let (replacement, end) = characterReference(s, at: i + 1) else {
                out.append(s[i])
                i += 1
                continue
            }
            out.append(contentsOf: replacement)
            i = end
        }
        return out
    }

    /// The replacement for a reference whose body starts at `start` (just after "&") and the
    /// index after it, or nil when the pattern does not match there.
    private static func characterReference(_ s: [Unicode.Scalar], at start: Int)
        -> ([Unicode.Scalar], Int)? {
        guard start < s.count else { return nil }
        if s[start] == "#" {
            var i = start + 1
            var radix: UInt32 = 10
            if i < s.count, s[i] == "x" || s[i] == "X", i + 1 < s.count, hexValue(s[i + 1]) != nil {
                radix = 16
                i += 1
            }
            var value: UInt32 = 0
            var overflow = false
            let digitsStart = i
            while i < s.count, let d = radix == 16 ? hexValue(s[i]) : decimalValue(s[i]) {
                if value > 0x10FFFF { overflow = true } else { value = value * radix + d }
                i += 1
            }
            guard i > digitsStart else { return nil }
            if i < s.count, s[i] == ";" { i += 1 }
            return (numericReference(overflow || value > 0x10FFFF ? nil : value), i)
        }
        // Named: 1…32 scalars other than \t \n \f space < & # ;, then an optional ";".
        var i = start
        while i < s.count, i - start < 32, !isNameTerminator(s[i]) { i += 1 }
        guard i > start else { return nil }
        if i < s.count, s[i] == ";" { i += 1 }
        let name = Array(s[start..<i])
        if let value = HTMLEntities.table[string(name)] {
            return (Array(value.unicodeScalars), i)
        }
        // The longest prefix (of at least 2 scalars) that names an entity, followed by the rest.
        if name.count > 2 {
            for length in stride(from: name.count - 1, through: 2, by: -1) {
                if let value = HTMLEntities.table[string(name[0..<length])] {
                    return (Array(value.unicodeScalars) + name[length...], i)
                }
            }
        }
        return (["&"] + name, i)
    }

    /// `_replace_charref` for a numeric reference; nil stands for a value above U+10FFFF.
    private static func numericReference(_ value: UInt32?) -> [Unicode.Scalar] {
        guard let value else { return ["\u{FFFD}"] }
        if let replacement = invalidCharacterReferences[value] { return [replacement] }
        if (0xD800...0xDFFF).contains(value) { return ["\u{FFFD}"] }
        if isInvalidCodePoint(value) { return [] }
        return Unicode.Scalar(value).map { [$0] } ?? ["\u{FFFD}"]
    }

    /// `html._invalid_charrefs`: NUL, CR, and the C1 range read as Windows-1252.
    private static let invalidCharacterReferences: [UInt32: Unicode.Scalar] = [
        0x00: "\u{FFFD}", 0x0D: "\r", 0x80: "\u{20AC}", 0x81: "\u{81}", 0x82: "\u{201A}", 0x83: "\u{0192}",
        0x84: "\u{201E}", 0x85: "\u{2026}", 0x86: "\u{2020}", 0x87: "\u{2021}", 0x88: "\u{02C6}", 0x89: "\u{2030}",
        0x8A: "\u{0160}", 0x8B: "\u{2039}", 0x8C: "\u{0152}", 0x8D: "\u{8D}", 0x8E: "\u{017D}", 0x8F: "\u{8F}",
        0x90: "\u{90}", 0x91: "\u{2018}", 0x92: "\u{2019}", 0x93: "\u{201C}", 0x94: "\u{201D}", 0x95: "\u{2022}",
        0x96: "\u{2013}", 0x97: "\u{2014}", 0x98: "\u{02DC}", 0x99: "\u{2122}", 0x9A: "\u{0161}", 0x9B: "\u{203A}",
        0x9C: "\u{0153}", 0x9D: "\u{9D}", 0x9E: "\u{017E}", 0x9F: "\u{0178}",
    ]

    /// `html._invalid_codepoints`: references to these produce nothing.
    private static func isInvalidCodePoint(_ v: UInt32) -> Bool {
        switch v {
        case 0x01...0x08, 0x0B, 0x0E...0x1F, 0x7F...0x9F, 0xFDD0...0xFDEF: return true
        default: return v & 0xFFFE == 0xFFFE  // U+xFFFE and U+xFFFF of every plane
        }
    }

    private static func isNameTerminator(_ s: Unicode.Scalar) -> Bool {
        switch s {
        case "\t", "\n", "\u{0C}", " ", "<", "&", "#", ";": return true
        default: return false
        }
    }

    private static func decimalValue(_ s: Unicode.Scalar) -> UInt32? {
        (0x30...0x39).contains(s.value) ? s.value - 0x30 : nil
    }

    private static func hexValue(_ s: Unicode.Scalar) -> UInt32? {
        switch s.value {
        case 0x30...0x39: return s.value - 0x30
        case 0x41...0x46: return s.value - 0x41 + 10
        case 0x61...0x66: return s.value - 0x61 + 10
        default: return nil
        }
    }

    private static func string<C: Collection>(_ scalars: C) -> String where C.Element == Unicode.Scalar {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }
}
