// Follows huggingface/tokenizers, tokenizers/src/tokenizer/mod.rs (`encode`,
// `post_process`, `decode`) for tokenizer.json files of T5-family models (T5, mT5, UMT5) as
// transformers' T5TokenizerFast / T5Tokenizer save them.
//
// Pipeline: added tokens are cut out of the raw text -> each piece in between is normalized
// -> pre-tokenized into words -> each word is segmented by the Unigram model -> truncation ->
// the template adds "</s>" -> optional padding.

import Foundation

/// Ids of a padded encoding and which of them are real tokens.
public struct TokenEncoding: Sendable, Equatable {
    /// Exactly `maxLength` ids: the encoded text, then padding.
    public let ids: [Int32]
    /// 1 for each real token (the end-of-sequence token included), 0 for padding.
    public let attentionMask: [Int32]

    /// Number of real tokens (the sum of the mask).
    public var length: Int { attentionMask.reduce(0) { $0 + Int($1) } }
}

/// A text tokenizer read from a Hugging Face `tokenizer.json` (Unigram model, as used by
/// T5 and UMT5). Immutable after loading; safe to share between threads.
public final class Tokenizer: Sendable {
    /// Id of "<pad>".
    public let padTokenId: Int32
    /// Id of "</s>".
    public let eosTokenId: Int32
    /// Number of ids the tokenizer can produce: every id is in 0..<vocabularySize.
    public let vocabularySize: Int

    private let normalizer: Normalizer?
    private let preTokenizer: PreTokenizer?
    private let model: UnigramModel
    private let addedVocabulary: AddedVocabulary
    private let postProcessor: TemplateProcessing?
    private let decoder: TokenDecoder?

    /// Loads `tokenizer.json`.
    ///
    /// Throws `KinemaError` `.io` when the file cannot be read, `.corruptFile` when it is not a
    /// valid tokenizer.json, and `.unsupported` naming any component type (normalizer,
    /// pre-tokenizer, model, post-processor, decoder) this implementation does not have.
    public convenience init(url: URL) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw KinemaError.io("\(url.path): cannot read the tokenizer file (\(error.localizedDescription))")
        }
        do {
            try self.init(data: data)
        } catch let error as KinemaError {
            throw KinemaError(error.code, "\(url.path): \(error.message)")
        }
    }

    /// Reads the contents of a tokenizer.json file.
    init(data: Data) throws {
        let file: TokenizerFile
        do {
            file = try JSONDecoder().decode(TokenizerFile.self, from: data)
        } catch let error as KinemaError {
            throw error
        } catch let error as DecodingError {
            throw KinemaError.corrupt("not a valid tokenizer.json: \(Self.describe(error))")
        } catch {
            throw KinemaError.corrupt("not a valid tokenizer.json: \(error)")
        }
        if let version = file.version, version != "1.0" {
            throw KinemaError.unsupported("tokenizer.json version \"\(version)\" is not supported (only 1.0)")
        }
        let model = try UnigramModel(file.model)
        let normalizer = try file.normalizer.map(Normalizer.init)
        let addedVocabulary = try AddedVocabulary(file.addedTokens, model: model, normalizer: normalizer)
        self.model = model
        self.normalizer = normalizer
        self.addedVocabulary = addedVocabulary
        self.preTokenizer = file.preTokenizer.map(PreTokenizer.init)
        self.postProcessor = try file.postProcessor.map(TemplateProcessing.init)
        self.decoder = try file.decoder.map(TokenDecoder.init)

        func lookUp(_ content: String) throws -> Int32 {
            guard let id = addedVocabulary.id(of: content) ?? model.id(of: content) else {
                throw KinemaError(.missingComponent, "the tokenizer has no \"\(content)\" token")
            }
            return id
        }
        padTokenId = try lookUp("<pad>")
        eosTokenId = try lookUp("</s>")
        vocabularySize = max(model.pieces.count, Int(addedVocabulary.maxId ?? -1) + 1)
    }

    // MARK: - Encoding

    /// Token ids of `text`, as transformers' `tokenizer(text, add_special_tokens=…,
    /// truncation=True, max_length=…)` gives them.
    ///
    /// - Parameters:
    ///   - addSpecialTokens: append the end-of-sequence token (the post-processor template).
    ///   - maxLength: keep at most this many ids. The text is cut first, so with special tokens
    ///     the last id is still "</s>".
    ///
    /// A Swift `String` is always valid Unicode; text arriving through the C API is checked to
    /// be valid UTF-8 there before it reaches this function.
    public func encode(_ text: String, addSpecialTokens: Bool = true, maxLength: Int? = nil) throws -> [Int32] {
        var ids = try tokenize(text)
        let added = addSpecialTokens ? (postProcessor?.addedTokenCount ?? 0) : 0
        if let maxLength {
            guard maxLength >= 1 else {
                throw KinemaError.invalidArgument("maxLength must be at least 1, got \(maxLength)")
            }
            guard maxLength >= added else {
                throw KinemaError.invalidArgument(
                    "maxLength \(maxLength) leaves no room for the \(added) special tokens the template adds")
            }
            if ids.count > maxLength - added {
                ids.removeSubrange((maxLength - added)...)
            }
        }
        if addSpecialTokens, let postProcessor {
            ids = postProcessor.process(ids)
        }
        return ids
    }

    /// Ids of `text` truncated and then padded with `padTokenId` to exactly `maxLength`, with
    /// the attention mask (transformers' `padding="max_length", truncation=True`).
    public func encodePadded(_ text: String, maxLength: Int, addSpecialTokens: Bool = true) throws -> TokenEncoding {
        let ids = try encode(text, addSpecialTokens: addSpecialTokens, maxLength: maxLength)
        let padding = maxLength - ids.count
        return TokenEncoding(ids: ids + repeatElement(padTokenId, count: padding),
                             attentionMask: [Int32](repeating: 1, count: ids.count)
                                 + repeatElement(0, count: padding))
    }

    /// Ids of `text` before truncation and special tokens.
    private func tokenize(_ text: String) throws -> [Int32] {
        var ids: [Int32] = []
        for split in try addedVocabulary.extractAndNormalize(text, normalizer: normalizer) {
            switch split {
            case .token(let id):
                ids.append(id)
            case .text(let piece):
                let words = preTokenizer?.split([piece]) ?? [piece]
                for word in words {
                    try model.encode(word.utf8, into: &ids)
                }
            }
        }
        return ids
    }

    // MARK: - Decoding

    /// Text of `ids`, as transformers' `tokenizer.decode(ids, skip_special_tokens=…)` gives it
    /// (without `clean_up_tokenization_spaces`, which T5 tokenizers leave off). Ids outside the
    /// vocabulary are skipped, as the reference does.
    public func decode(_ ids: [Int32], skipSpecialTokens: Bool = true) -> String {
        var tokens: [String] = []
        tokens.reserveCapacity(ids.count)
        for id in ids {
            let token: String
            if let added = addedVocabulary.decodedText(of: id) {
                token = added
            } else if id >= 0, Int(id) < model.pieces.count {
                token = model.pieces[Int(id)]
            } else {
                continue
            }
            if skipSpecialTokens, addedVocabulary.specialContents.contains(token) { continue }
            tokens.append(token)
        }
        guard let decoder else { return tokens.joined(separator: " ") }
        return decoder.decode(tokens).joined()
    }

    // MARK: - Errors

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let parts = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }
            let joined = parts.joined()
            return joined.isEmpty ? "top level" : String(joined.drop(while: { $0 == "." }))
        }
        switch error {
        case .typeMismatch(let type, let context):
            return "\(path(context)): expected \(type) (\(context.debugDescription))"
        case .valueNotFound(let type, let context):
            return "\(path(context)): missing \(type) value"
        case .keyNotFound(let key, let context):
            let at = context.codingPath.isEmpty ? "" : " in \(path(context))"
            return "missing key \"\(key.stringValue)\"\(at)"
        case .dataCorrupted(let context):
            return "\(path(context)): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}
