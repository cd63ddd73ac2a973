// Follows huggingface/tokenizers, tokenizers/src/processors/template.rs (`TemplateProcessing`
// for a single sequence; T5's template is "$A </s>").

/// Adds the special tokens of the "single" template around the encoded sequence.
struct TemplateProcessing: Sendable {
    private enum Piece: Sendable {
        case sequence
        case special([Int32])
    }
    private let pieces: [Piece]
    /// How many ids the template adds; truncation keeps room for them.
    let addedTokenCount: Int

    init(_ spec: PostProcessorSpec) throws {
        var pieces: [Piece] = []
        var added = 0
        var sequences = 0
        for piece in spec.single {
            switch piece {
            case .sequence(let name):
                guard name == "A" else {
                    throw KinemaError.corrupt("TemplateProcessing: the single template refers to sequence \"\(name)\"")
                }
                sequences += 1
                pieces.append(.sequence)
            case .specialToken(let name):
                guard let token = spec.specialTokens[name] else {
                    throw KinemaError.corrupt("TemplateProcessing: special token \"\(name)\" is not in special_tokens")
                }
                let ids = try token.ids.map { id -> Int32 in
                    guard id >= 0, id < Int(Int32.max) else {
                        throw KinemaError.corrupt("TemplateProcessing: special token \"\(name)\" has id \(id)")
                    }
                    return Int32(id)
                }
                added += ids.count
                pieces.append(.special(ids))
            }
        }
        guard sequences == 1 else {
            throw KinemaError.unsupported("TemplateProcessing: a single template with \(sequences) copies of $A")
        }
        self.pieces = pieces
        self.addedTokenCount = added
    }

    func process(_ ids: [Int32]) -> [Int32] {
        var out: [Int32] = []
        out.reserveCapacity(ids.count + addedTokenCount)
        for piece in pieces {
            switch piece {
            case .sequence: out.append(contentsOf: ids)
            case .special(let special): out.append(contentsOf: special)
            }
        }
        return out
    }
}
