// Typed view of a Hugging Face `tokenizer.json` (huggingface/tokenizers, tokenizers/src/tokenizer/serialization.rs
// and the `Deserialize` impls of each component).
//
// Every component is chosen by its JSON "type". A type this file does not know is a
// `KinemaError(.unsupported)` naming it: a tokenizer that silently skipped a stage would
// produce different ids with no sign that anything went wrong.

import Foundation

/// The top level of tokenizer.json.
///
/// `truncation` and `padding` are not read: transformers sets both per call (from `max_length`,
/// `truncation=` and `padding=`) and ignores what the file holds, and so does `Tokenizer`.
struct TokenizerFile: Decodable {
    let version: String?
    let addedTokens: [AddedTokenSpec]
    let normalizer: NormalizerSpec?
    let preTokenizer: PreTokenizerSpec?
    let model: ModelSpec
    let postProcessor: PostProcessorSpec?
    let decoder: DecoderSpec?

    enum CodingKeys: String, CodingKey {
        case version
        case addedTokens = "added_tokens"
        case normalizer
        case preTokenizer = "pre_tokenizer"
        case model
        case postProcessor = "post_processor"
        case decoder
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        version = try c.decodeIfPresent(String.self, forKey: .version)
        addedTokens = try c.decodeIfPresent([AddedTokenSpec].self, forKey: .addedTokens) ?? []
        normalizer = try c.decodeIfPresent(NormalizerSpec.self, forKey: .normalizer)
        preTokenizer = try c.decodeIfPresent(PreTokenizerSpec.self, forKey: .preTokenizer)
        model = try c.decode(ModelSpec.self, forKey: .model)
        postProcessor = try c.decodeIfPresent(PostProcessorSpec.self, forKey: .postProcessor)
        self.decoder = try c.decodeIfPresent(DecoderSpec.self, forKey: .decoder)
    }
}

/// One entry of "added_tokens". The file's "id" is advisory: the tokenizers library gives a
/// token the model's id for the same content when there is one (see `AddedVocabulary`).
struct AddedTokenSpec: Decodable {
    let id: Int
    let content: String
    let singleWord: Bool
    let lstrip: Bool
    let rstrip: Bool
    let normalized: Bool
    let special: Bool

    enum CodingKeys: String, CodingKey {
        case id, content, lstrip, rstrip, normalized, special
        case singleWord = "single_word"
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decode(Int.self, forKey: .id)
        content = try c.decode(String.self, forKey: .content)
        special = try c.decodeIfPresent(Bool.self, forKey: .special) ?? false
        singleWord = try c.decodeIfPresent(Bool.self, forKey: .singleWord) ?? false
        lstrip = try c.decodeIfPresent(Bool.self, forKey: .lstrip) ?? false
        rstrip = try c.decodeIfPresent(Bool.self, forKey: .rstrip) ?? false
        // tokenizers' AddedToken default: normalized = !special.
        normalized = try c.decodeIfPresent(Bool.self, forKey: .normalized) ?? !special
    }
}

/// A pattern of a `Replace` normalizer or decoder: {"String": "…"} or {"Regex": "…"}.
enum PatternSpec: Decodable, Equatable {
    case string(String)
    case regex(String)

    enum CodingKeys: String, CodingKey {
        case string = "String"
        case regex = "Regex"
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let s = try c.decodeIfPresent(String.self, forKey: .string) {
            self = .string(s)
        } else if let r = try c.decodeIfPresent(String.self, forKey: .regex) {
            self = .regex(r)
        } else {
            throw KinemaError.corrupt("a Replace pattern must be {\"String\": …} or {\"Regex\": …}")
        }
    }
}

/// The key every component carries.
private struct TypeKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
    static let type = TypeKey(stringValue: "type")
}

private func componentType(_ decoder: Decoder, _ kind: String) throws -> String {
    let c = try decoder.container(keyedBy: TypeKey.self)
    guard let type = try c.decodeIfPresent(String.self, forKey: .type) else {
        throw KinemaError.corrupt("a \(kind) has no \"type\"")
    }
    return type
}

// MARK: - Normalizers

indirect enum NormalizerSpec: Decodable {
    case sequence([NormalizerSpec])
    case precompiled(charsmap: String)
    case replace(pattern: PatternSpec, content: String)
    case strip(left: Bool, right: Bool)
    case prepend(String)
    case unicode(UnicodeNormalizationForm)

    private enum Keys: String, CodingKey {
        case normalizers, content, pattern, prepend
        case precompiledCharsmap = "precompiled_charsmap"
        case stripLeft = "strip_left"
        case stripRight = "strip_right"
    }

    init(from decoder: Decoder) throws {
        let type = try componentType(decoder, "normalizer")
        let c = try decoder.container(keyedBy: Keys.self)
        switch type {
        case "Sequence":
            self = .sequence(try c.decode([NormalizerSpec].self, forKey: .normalizers))
        case "Precompiled":
            self = .precompiled(charsmap: try c.decode(String.self, forKey: .precompiledCharsmap))
        case "Replace":
            self = .replace(pattern: try c.decode(PatternSpec.self, forKey: .pattern),
                            content: try c.decode(String.self, forKey: .content))
        case "Strip":
            self = .strip(left: try c.decode(Bool.self, forKey: .stripLeft),
                          right: try c.decode(Bool.self, forKey: .stripRight))
        case "Prepend":
            self = .prepend(try c.decode(String.self, forKey: .prepend))
        case "NFC": self = .unicode(.nfc)
        case "NFD": self = .unicode(.nfd)
        case "NFKC": self = .unicode(.nfkc)
        case "NFKD": self = .unicode(.nfkd)
        default:
            throw KinemaError.unsupported("normalizer type \"\(type)\" is not supported")
        }
    }
}

enum UnicodeNormalizationForm: Sendable {
    case nfc, nfd, nfkc, nfkd
}

// MARK: - Pre-tokenizers

indirect enum PreTokenizerSpec: Decodable {
    case sequence([PreTokenizerSpec])
    case whitespaceSplit
    case metaspace(MetaspaceSpec)

    private enum Keys: String, CodingKey {
        case pretokenizers
    }

    init(from decoder: Decoder) throws {
        let type = try componentType(decoder, "pre-tokenizer")
        switch type {
        case "Sequence":
            let c = try decoder.container(keyedBy: Keys.self)
            self = .sequence(try c.decode([PreTokenizerSpec].self, forKey: .pretokenizers))
        case "WhitespaceSplit":
            self = .whitespaceSplit
        case "Metaspace":
            self = .metaspace(try MetaspaceSpec(from: decoder))
        default:
            throw KinemaError.unsupported("pre-tokenizer type \"\(type)\" is not supported")
        }
    }
}

enum PrependScheme: String, Sendable {
    case always, first, never
}

/// Metaspace settings, shared by the pre-tokenizer and the decoder. Older files carry
/// `add_prefix_space` (and `str_rep`) instead of `prepend_scheme`/`split`; this follows the
/// tokenizers library's reading of them (pre_tokenizers/metaspace.rs): `prepend_scheme`
/// defaults to "always", `split` to true, and `add_prefix_space: false` requires "never".
struct MetaspaceSpec: Decodable {
    let replacement: Unicode.Scalar
    let prependScheme: PrependScheme
    let split: Bool

    private enum Keys: String, CodingKey {
        case replacement, split
        case addPrefixSpace = "add_prefix_space"
        case prependScheme = "prepend_scheme"
    }

    init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        let text = try c.decode(String.self, forKey: .replacement)
        let scalars = Array(text.unicodeScalars)
        guard scalars.count == 1 else {
            throw KinemaError.corrupt("Metaspace replacement \"\(text)\" must be one character")
        }
        replacement = scalars[0]
        var scheme = PrependScheme.always
        if let name = try c.decodeIfPresent(String.self, forKey: .prependScheme) {
            guard let parsed = PrependScheme(rawValue: name) else {
                throw KinemaError.unsupported("Metaspace prepend_scheme \"\(name)\" is not supported")
            }
            scheme = parsed
        }
        if try c.decodeIfPresent(Bool.self, forKey: .addPrefixSpace) == false {
            guard scheme == .never else {
                throw KinemaError.corrupt("Metaspace add_prefix_space does not match prepend_scheme")
            }
        }
        prependScheme = scheme
        split = try c.decodeIfPresent(Bool.self, forKey: .split) ?? true
    }
}

// MARK: - Model

struct ModelSpec: Decodable {
    let vocab: [VocabEntry]
    let unkId: Int?
    let byteFallback: Bool

    struct VocabEntry: Decodable {
        let piece: String
        let score: Double

        init(from decoder: Decoder) throws {
            var c = try decoder.unkeyedContainer()
            piece = try c.decode(String.self)
            score = try c.decode(Double.self)
        }
    }

    private enum Keys: String, CodingKey {
        case vocab
        case unkId = "unk_id"
        case byteFallback = "byte_fallback"
    }

    init(from decoder: Decoder) throws {
        let type = try componentType(decoder, "model")
        guard type == "Unigram" else {
            throw KinemaError.unsupported("model type \"\(type)\" is not supported (only Unigram)")
        }
        let c = try decoder.container(keyedBy: Keys.self)
        vocab = try c.decode([VocabEntry].self, forKey: .vocab)
        unkId = try c.decodeIfPresent(Int.self, forKey: .unkId)
        byteFallback = try c.decodeIfPresent(Bool.self, forKey: .byteFallback) ?? false
    }
}

// MARK: - Post-processor

struct PostProcessorSpec: Decodable {
    /// The "single" template: "A" for the sequence, or the name of a special token.
    let single: [TemplatePiece]
    let specialTokens: [String: SpecialTokenSpec]

    enum TemplatePiece: Decodable {
        case sequence(String)
        case specialToken(String)

        private enum Keys: String, CodingKey {
            case sequence = "Sequence"
            case specialToken = "SpecialToken"
        }
        private struct Inner: Decodable {
            let id: String
        }

        init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: Keys.self)
            if let s = try c.decodeIfPresent(Inner.self, forKey: .sequence) {
                self = .sequence(s.id)
            } else if let t = try c.decodeIfPresent(Inner.self, forKey: .specialToken) {
                self = .specialToken(t.id)
            } else {
                throw KinemaError.corrupt("a TemplateProcessing piece must be Sequence or SpecialToken")
            }
        }
    }

    struct SpecialTokenSpec: Decodable {
        let id: String
        let ids: [Int]
    }

    private enum Keys: String, CodingKey {
        case single
        case specialTokens = "special_tokens"
    }

    init(from decoder: Decoder) throws {
        let type = try componentType(decoder, "post-processor")
        guard type == "TemplateProcessing" else {
            throw KinemaError.unsupported("post-processor type \"\(type)\" is not supported")
        }
        let c = try decoder.container(keyedBy: Keys.self)
        single = try c.decode([TemplatePiece].self, forKey: .single)
        specialTokens = try c.decodeIfPresent([String: SpecialTokenSpec].self, forKey: .specialTokens) ?? [:]
    }
}

// MARK: - Decoders

indirect enum DecoderSpec: Decodable {
    case sequence([DecoderSpec])
    case metaspace(MetaspaceSpec)
    case replace(pattern: PatternSpec, content: String)
    case byteFallback
    case fuse
    case strip(content: Unicode.Scalar, start: Int, stop: Int)

    private enum Keys: String, CodingKey {
        case decoders, pattern, content, start, stop
    }

    init(from decoder: Decoder) throws {
        let type = try componentType(decoder, "decoder")
        let c = try decoder.container(keyedBy: Keys.self)
        switch type {
        case "Sequence":
            self = .sequence(try c.decode([DecoderSpec].self, forKey: .decoders))
        case "Metaspace":
            self = .metaspace(try MetaspaceSpec(from: decoder))
        case "Replace":
            self = .replace(pattern: try c.decode(PatternSpec.self, forKey: .pattern),
                            content: try c.decode(String.self, forKey: .content))
        case "ByteFallback":
            self = .byteFallback
        case "Fuse":
            self = .fuse
        case "Strip":
            let text = try c.decode(String.self, forKey: .content)
            let scalars = Array(text.unicodeScalars)
            guard scalars.count == 1 else {
                throw KinemaError.corrupt("Strip decoder content \"\(text)\" must be one character")
            }
            let start = try c.decode(Int.self, forKey: .start)
            let stop = try c.decode(Int.self, forKey: .stop)
            guard start >= 0, stop >= 0 else {
                throw KinemaError.corrupt("Strip decoder start/stop must not be negative")
            }
            self = .strip(content: scalars[0], start: start, stop: stop)
        default:
            throw KinemaError.unsupported("decoder type \"\(type)\" is not supported")
        }
    }
}
