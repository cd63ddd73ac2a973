// Follows huggingface/tokenizers, tokenizers/src/models/unigram/model.rs (`encode_optimized`,
// `tokenize`) and trie.rs, which port google/sentencepiece src/unigram_model.cc
// (`Model::EncodeOptimized`).
//
// The search runs over UTF-8 bytes, as both references do: vocabulary pieces are found with a
// byte trie starting at every character boundary, and an unknown character spans its whole
// UTF-8 sequence. Scores are Float64 like the reference, so sums and ties come out the same.

/// A trie over the UTF-8 bytes of the vocabulary pieces.
struct ByteTrie: Sendable {
    /// Edges keyed by `node << 8 | byte`.
    private let edges: [UInt64: Int32]
    /// The piece id ending at each node, or -1.
    private let terminal: [Int32]

    init<S: Sequence>(pieces: S) where S.Element == (bytes: [UInt8], id: Int32) {
        var edges: [UInt64: Int32] = [:]
        var terminal: [Int32] = [-1]
        for (bytes, id) in pieces {
            var node: Int32 = 0
            for b in bytes {
                let key = UInt64(node) << 8 | UInt64(b)
                if let next = edges[key] {
                    node = next
                } else {
                    let next = Int32(terminal.count)
                    terminal.append(-1)
                    edges[key] = next
                    node = next
                }
            }
            // A later duplicate piece wins, as in the reference's token-to-id map.
            terminal[Int(node)] = id
        }
        self.edges = edges
        self.terminal = terminal
    }

    /// Calls `body(length, id)` for every piece that prefixes `bytes[start...]`, shortest first.
    @inline(__always)
    func forEachPrefix(of bytes: UnsafeBufferPointer<UInt8>, from start: Int, _ body: (Int, Int32) -> Void) {
        var node: Int32 = 0
        var i = start
        while i < bytes.count {
            guard let next = edges[UInt64(node) << 8 | UInt64(bytes[i])] else { return }
            node = next
            i += 1
            let id = terminal[Int(node)]
            if id >= 0 { body(i - start, id) }
        }
    }
}

/// The Unigram language model: pieces with log-probability scores, segmented by Viterbi.
struct UnigramModel: Sendable {
    let pieces: [String]
    let scores: [Double]
    let unknownId: Int32?
    let byteFallback: Bool
    private let pieceIds: [String: Int32]
    private let trie: ByteTrie
    /// sentencepiece's kUnkPenalty: an unknown character costs 10 below the rarest piece.
    private let unknownScore: Double
    /// Ids of "<0x00>"…"<0xFF>" (-1 where absent), used by byte fallback.
    private let byteIds: [Int32]

    init(_ spec: ModelSpec) throws {
        let count = spec.vocab.count
        guard count > 0 else {
            throw KinemaError.corrupt("the Unigram vocabulary is empty")
        }
        guard count < Int(Int32.max) else {
            throw KinemaError.corrupt("the Unigram vocabulary has \(count) pieces, too many for Int32 ids")
        }
        if let unk = spec.unkId {
            guard unk >= 0, unk < count else {
                throw KinemaError.corrupt("unk_id \(unk) is outside the vocabulary of \(count) pieces")
            }
            unknownId = Int32(unk)
        } else {
            unknownId = nil
        }
        var pieces: [String] = []
        var scores: [Double] = []
        pieces.reserveCapacity(count)
        scores.reserveCapacity(count)
        var pieceIds: [String: Int32] = [:]
        pieceIds.reserveCapacity(count)
        var minScore = Double.infinity
        for (i, entry) in spec.vocab.enumerated() {
            guard entry.score.isFinite else {
                throw KinemaError.corrupt("piece \(i) (\"\(entry.piece)\") has a non-finite score")
            }
            pieces.append(entry.piece)
            scores.append(entry.score)
            pieceIds[entry.piece] = Int32(i)
            minScore = min(minScore, entry.score)
        }
        // The trie maps bytes to the id the token-to-id map holds, so a duplicated piece
        // resolves to its last id everywhere, as in the reference.
        trie = ByteTrie(pieces: pieceIds.lazy.map { (bytes: Array($0.key.utf8), id: $0.value) })
        byteIds = (0..<256).map { b in pieceIds[Self.bytePiece(UInt8(b))] ?? -1 }
        self.pieces = pieces
        self.scores = scores
        self.pieceIds = pieceIds
        self.unknownScore = minScore - 10
        self.byteFallback = spec.byteFallback
    }

    static func bytePiece(_ byte: UInt8) -> String {
        let hex = Array("0123456789ABCDEF")
        return "<0x\(hex[Int(byte >> 4)])\(hex[Int(byte & 15)])>"
    }

    func id(of piece: String) -> Int32? { pieceIds[piece] }

    /// Appends the ids of one pre-tokenized word to `ids`.
    func encode(_ word: [UInt8], into ids: inout [Int32]) throws {
        if word.isEmpty { return }
        try word.withUnsafeBufferPointer { bytes in
            let size = bytes.count
            // Best path ending at each byte position: score, start of its last piece, piece id.
            var bestScore = [Double](repeating: 0, count: size + 1)
            var startsAt = [Int](repeating: -1, count: size + 1)
            var nodeId = [Int32](repeating: 0, count: size + 1)
            var position = 0
            while position < size {
                let scoreHere = bestScore[position]
                let charLength = Self.utf8Length(leadByte: bytes[position], remaining: size - position)
                var hasSingleNode = false
                trie.forEachPrefix(of: bytes, from: position) { length, id in
                    let end = position + length
                    let candidate = scores[Int(id)] + scoreHere
                    if startsAt[end] < 0 || candidate > bestScore[end] {
                        bestScore[end] = candidate
                        startsAt[end] = position
                        nodeId[end] = id
                    }
                    if length == charLength { hasSingleNode = true }
                }
                if !hasSingleNode {
                    let end = position + charLength
                    let candidate = unknownScore + scoreHere
                    if startsAt[end] < 0 || candidate > bestScore[end] {
                        guard let unk = unknownId else {
                            throw KinemaError.invalidArgument(
                                "the text holds a character the tokenizer cannot encode and its model has no unk_id")
                        }
                        bestScore[end] = candidate
                        startsAt[end] = position
                        nodeId[end] = unk
                    }
                }
                position += charLength
            }

            // Walk back; consecutive unknown pieces are fused into one, as the reference does.
            var path: [(start: Int, end: Int, id: Int32)] = []
            var end = size
            while end > 0 {
                let start = startsAt[end]
                guard start >= 0, start < end else {
                    throw KinemaError(.internalError, "Unigram search left byte \(end) unreachable")
                }
                let id = nodeId[end]
                if id == unknownId, let last = path.last, last.id == id {
                    path[path.count - 1] = (start, last.end, id)
                } else {
                    path.append((start, end, id))
                }
                end = start
            }
            for piece in path.reversed() {
                if piece.id != unknownId {
                    ids.append(piece.id)
                    continue
                }
                // `Unigram::tokenize`: an unknown run is looked up as a whole, then as bytes.
                let run = Array(bytes[piece.start..<piece.end])
                if let text = String(validating: run, as: UTF8.self), let known = pieceIds[text] {
                    ids.append(known)
                } else if byteFallback, run.allSatisfy({ byteIds[Int($0)] >= 0 }) {
                    for b in run { ids.append(byteIds[Int(b)]) }
                } else {
                    ids.append(piece.id)
                }
            }
        }
    }

    /// Length of the UTF-8 sequence that starts with `leadByte` (input is valid UTF-8).
    @inline(__always)
    private static func utf8Length(leadByte: UInt8, remaining: Int) -> Int {
        let n: Int
        if leadByte < 0x80 { n = 1 } else if leadByte < 0xE0 { n = 2 } else if leadByte < 0xF0 { n = 3 } else { n = 4 }
        return min(n, remaining)
    }
}
