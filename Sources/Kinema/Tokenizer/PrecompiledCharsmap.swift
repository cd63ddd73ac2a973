// Follows huggingface/spm_precompiled (src/lib.rs) and huggingface/tokenizers
// (tokenizers/src/normalizers/precompiled.rs), which read google/sentencepiece's
// `precompiled_charsmap` (src/normalizer.cc, third_party/darts_clone).
//
// The blob is SentencePiece's compiled normalization rule set:
//   [u32 little-endian: trie size in bytes][trie: u32 units][pool: UTF-8 strings, each ended by NUL]
// The trie is a Darts-clone double array keyed by UTF-8 bytes; a key's value is a byte offset
// into the pool where its replacement string starts.
//
// How the rules are applied is NOT SentencePiece's own way. SentencePiece (normalizer.cc
// `NormalizePrefix`) takes the longest key that prefixes the remaining input, byte by byte.
// The Hugging Face implementation, which is what transformers' T5 tokenizers run and what the
// ids in tokenizer.json-based pipelines come from, instead walks extended grapheme clusters:
// a cluster shorter than 6 UTF-8 bytes is replaced whole by the value of the SHORTEST key that
// prefixes it (the first hit of the prefix search); otherwise, or when nothing matches, each
// scalar of the cluster is looked up alone and passed through when it has no rule. The two
// agree on almost all text and differ on, e.g., a full-width letter followed by a combining
// accent (HF drops the accent). Since the goal is the ids of the HF pipeline, this file
// reproduces the HF behaviour, quirks included.
//
// Grapheme clusters come from Swift's `Character`, which implements the same Unicode
// algorithm (UAX #29) as the `unicode-segmentation` crate; the two can differ only on text
// where their Unicode versions disagree.

import Foundation

/// SentencePiece's compiled normalization rules (the "Precompiled" normalizer).
struct PrecompiledCharsmap: Sendable {
    private let units: [UInt32]
    private let pool: [UInt8]

    /// Parses the raw blob (already base64-decoded).
    init(blob: [UInt8]) throws {
        guard blob.count >= 4 else {
            throw KinemaError.corrupt("precompiled_charsmap is shorter than its 4-byte header")
        }
        let trieBytes = Int(UInt32(blob[0]) | UInt32(blob[1]) << 8 | UInt32(blob[2]) << 16 | UInt32(blob[3]) << 24)
        let unitCount = trieBytes / 4
        guard unitCount >= 1, 4 + unitCount * 4 <= blob.count else {
            throw KinemaError.corrupt(
                "precompiled_charsmap declares a \(trieBytes)-byte trie but holds \(blob.count - 4) bytes")
        }
        var units = [UInt32](repeating: 0, count: unitCount)
        for i in 0..<unitCount {
            let b = 4 + 4 * i
            units[i] = UInt32(blob[b]) | UInt32(blob[b + 1]) << 8 | UInt32(blob[b + 2]) << 16 | UInt32(blob[b + 3]) << 24
        }
        let pool = Array(blob[(4 + unitCount * 4)...])
        guard String(validating: pool, as: UTF8.self) != nil else {
            throw KinemaError.corrupt("precompiled_charsmap's replacement strings are not valid UTF-8")
        }
        self.units = units
        self.pool = pool
    }

    /// Parses the base64 text stored in tokenizer.json.
    init(base64: String) throws {
        guard let data = Data(base64Encoded: base64) else {
            throw KinemaError.corrupt("precompiled_charsmap is not valid base64")
        }
        try self.init(blob: [UInt8](data))
    }

    // Darts-clone unit layout (darts.h `DoubleArrayUnit`).
    @inline(__always) private static func hasLeaf(_ u: UInt32) -> Bool { (u >> 8) & 1 == 1 }
    @inline(__always) private static func value(_ u: UInt32) -> Int { Int(u & ((1 << 31) - 1)) }
    @inline(__always) private static func label(_ u: UInt32) -> UInt32 { u & ((1 << 31) | 0xFF) }
    @inline(__always) private static func offset(_ u: UInt32) -> Int {
        Int((u >> 10) << ((u & (1 << 9)) >> 6))
    }

    /// The value of the shortest key that prefixes `key` (stopping at a NUL byte), or nil.
    private func shortestPrefixValue<C: Collection>(_ key: C) throws -> Int? where C.Element == UInt8 {
        var node = 0
        guard node < units.count else { return nil }
        node ^= Self.offset(units[node])
        for byte in key {
            if byte == 0 { break }
            node ^= Int(byte)
            guard node >= 0, node < units.count else { throw Self.corruptTrie }
            let unit = units[node]
            if Self.label(unit) != UInt32(byte) { return nil }
            node ^= Self.offset(unit)
            if Self.hasLeaf(unit) {
                guard node >= 0, node < units.count else { throw Self.corruptTrie }
                return Self.value(units[node])
            }
        }
        return nil
    }

    private static let corruptTrie = KinemaError.corrupt("precompiled_charsmap trie points outside itself")

    /// The replacement for `key` (the HF `Precompiled::transform`), or nil when no rule applies.
    func replacement<C: Collection>(for key: C) throws -> [Unicode.Scalar]? where C.Element == UInt8 {
        guard let start = try shortestPrefixValue(key) else { return nil }
        guard start <= pool.count else {
            throw KinemaError.corrupt("precompiled_charsmap value \(start) is outside its string pool")
        }
        var end = start
        while end < pool.count, pool[end] != 0 { end += 1 }
        guard let text = String(validating: pool[start..<end], as: UTF8.self) else {
            throw KinemaError.corrupt("precompiled_charsmap value \(start) is not on a character boundary")
        }
        return Array(text.unicodeScalars)
    }

    /// Applies the rules to `text` as the HF Precompiled normalizer does.
    func normalize(_ text: inout NormalizedText) throws {
        var changes: [NormalizedText.Change] = []
        changes.reserveCapacity(text.scalars.count)
        var modified = false
        var utf8: [UInt8] = []
        for grapheme in text.string {
            let scalars = grapheme.unicodeScalars
            utf8.removeAll(keepingCapacity: true)
            utf8.append(contentsOf: grapheme.utf8)
            if utf8.count < 6, let normalized = try replacement(for: utf8) {
                modified = true
                Self.appendReplacement(&changes, replacedCount: scalars.count, by: normalized)
                continue
            }
            for scalar in scalars {
                utf8.removeAll(keepingCapacity: true)
                UTF8.encode(scalar) { utf8.append($0) }
                if let normalized = try replacement(for: utf8) {
                    modified = true
                    Self.appendReplacement(&changes, replacedCount: 1, by: normalized)
                } else {
                    changes.append(.init(scalar: scalar, change: 0))
                }
            }
        }
        if modified {
            text.transform(changes, initialOffset: 0)
        }
    }

    /// tokenizers' `replace` helper in precompiled.rs: the new scalars replace the old ones one
    /// for one; extra new ones are marked inserted, and missing ones are charged to the last
    /// change written so far (which may belong to an earlier cluster).
    private static func appendReplacement(_ changes: inout [NormalizedText.Change], replacedCount: Int,
                                          by normalized: [Unicode.Scalar]) {
        let diff = normalized.count - replacedCount
        for s in normalized { changes.append(.init(scalar: s, change: 0)) }
        if diff > 0 {
            for i in (changes.count - diff)..<changes.count { changes[i].change = 1 }
        } else if diff < 0, !changes.isEmpty {
            changes[changes.count - 1].change += diff
        }
    }
}
