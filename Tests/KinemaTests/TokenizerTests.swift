import Foundation
import XCTest
@testable import Kinema

// Expected values come from tools/reference/make_tokenizer_fixtures.py (transformers'
// T5TokenizerFast for t5-300 and t5-1000-bytes, the `tokenizers` library for umt5-style and
// components) and Python's html.unescape for PromptCleaner.

private struct ExpectedFile: Decodable {
    struct Case: Decodable {
        let ids: [Int32]
        let plain: [Int32]?
        let truncated: [String: [Int32]]?
        let decoded: String
        let decodedWithSpecial: String?

        enum CodingKeys: String, CodingKey {
            case ids, plain, truncated, decoded
            case decodedWithSpecial = "decoded_with_special"
        }
    }
    struct Padded: Decodable {
        let prompt: Int
        let maxLength: Int
        let ids: [Int32]
        let mask: [Int32]

        enum CodingKeys: String, CodingKey {
            case prompt, ids, mask
            case maxLength = "max_length"
        }
    }
    let cases: [Case]
    let padded: [Padded]
}

private struct CleanerCase: Decodable {
    let input: String
    let output: String
}

final class TokenizerTests: XCTestCase {
    static let fixtureTokenizers = ["t5-300", "t5-1000-bytes", "umt5-style", "components", "metaspace-first"]

    private func loadPrompts() throws -> [String] {
        try JSONDecoder().decode([String].self, from: Data(contentsOf: fixtureURL("tokenizer/prompts.json")))
    }

    private func loadTokenizer(_ name: String) throws -> Tokenizer {
        try Tokenizer(url: fixtureURL("tokenizer/\(name)/tokenizer.json"))
    }

    private func loadExpected(_ name: String) throws -> ExpectedFile {
        try JSONDecoder().decode(ExpectedFile.self, from: Data(contentsOf: fixtureURL("tokenizer/\(name)/expected.json")))
    }

    // MARK: - Parity with the reference

    func testIdsMatchReferenceOnEveryPrompt() throws {
        let prompts = try loadPrompts()
        XCTAssertGreaterThanOrEqual(prompts.count, 300)
        for name in Self.fixtureTokenizers {
            let tokenizer = try loadTokenizer(name)
            let expected = try loadExpected(name)
            XCTAssertEqual(expected.cases.count, prompts.count, name)
            var mismatches = 0
            for (index, (prompt, want)) in zip(prompts, expected.cases).enumerated() {
                let ids = try tokenizer.encode(prompt)
                if ids != want.ids {
                    mismatches += 1
                    if mismatches <= 5 {
                        XCTFail("\(name) prompt \(index) \(prompt.debugDescription): got \(ids), want \(want.ids)")
                    }
                }
                if let plain = want.plain {
                    XCTAssertEqual(try tokenizer.encode(prompt, addSpecialTokens: false), plain, "\(name) prompt \(index) plain")
                }
            }
            XCTAssertEqual(mismatches, 0, "\(name): prompts with different ids")
        }
    }

    func testTruncationMatchesReference() throws {
        let prompts = try loadPrompts()
        for name in Self.fixtureTokenizers {
            let tokenizer = try loadTokenizer(name)
            var truncatedCount = 0
            for (index, (prompt, want)) in zip(prompts, try loadExpected(name).cases).enumerated() {
                for maxLength in [64, 512] {
                    let ids = try tokenizer.encode(prompt, maxLength: maxLength)
                    if let truncated = want.truncated?[String(maxLength)] {
                        truncatedCount += 1
                        XCTAssertEqual(ids, truncated, "\(name) prompt \(index) max_length \(maxLength)")
                        XCTAssertEqual(ids.count, maxLength)
                        if name != "metaspace-first" {  // the one fixture without a template
                            XCTAssertEqual(ids.last, tokenizer.eosTokenId, "the template's last token survives truncation")
                        }
                    } else {
                        XCTAssertEqual(ids, want.ids, "\(name) prompt \(index) max_length \(maxLength) (no cut)")
                    }
                }
            }
            XCTAssertGreaterThan(truncatedCount, 10, "\(name): the corpus must exercise truncation")
        }
    }

    func testPaddingMatchesReference() throws {
        let prompts = try loadPrompts()
        for name in Self.fixtureTokenizers {
            let tokenizer = try loadTokenizer(name)
            let expected = try loadExpected(name)
            XCTAssertFalse(expected.padded.isEmpty)
            for padded in expected.padded {
                let encoding = try tokenizer.encodePadded(prompts[padded.prompt], maxLength: padded.maxLength)
                XCTAssertEqual(encoding.ids, padded.ids, "\(name) prompt \(padded.prompt)")
                XCTAssertEqual(encoding.attentionMask, padded.mask, "\(name) prompt \(padded.prompt)")
                XCTAssertEqual(encoding.length, padded.mask.reduce(0) { $0 + Int($1) })
            }
        }
    }

    func testDecodeMatchesReference() throws {
        for name in Self.fixtureTokenizers {
            let tokenizer = try loadTokenizer(name)
            for (index, want) in try loadExpected(name).cases.enumerated() {
                XCTAssertEqual(tokenizer.decode(want.ids), want.decoded, "\(name) prompt \(index)")
                XCTAssertEqual(tokenizer.decode(want.ids, skipSpecialTokens: false), want.decodedWithSpecial ?? want.decoded,
                               "\(name) prompt \(index) with special tokens")
            }
        }
    }

    func testSpecialTokenIdsAndVocabularySize() throws {
        let tokenizer = try loadTokenizer("t5-300")
        XCTAssertEqual(tokenizer.padTokenId, 0)
        XCTAssertEqual(tokenizer.eosTokenId, 1)
        XCTAssertEqual(tokenizer.vocabularySize, 400)  // 300 pieces + 100 extra ids
        XCTAssertEqual(try tokenizer.encode(""), [1])
        XCTAssertEqual(try tokenizer.encode("", addSpecialTokens: false), [])
        XCTAssertEqual(try tokenizer.encode("</s>", addSpecialTokens: false), [1])
        for name in Self.fixtureTokenizers {
            let t = try loadTokenizer(name)
            for prompt in try loadPrompts() {
                XCTAssertTrue(try t.encode(prompt).allSatisfy { $0 >= 0 && Int($0) < t.vocabularySize }, name)
            }
        }
    }

    func testDecodeSkipsIdsOutsideTheVocabulary() throws {
        let tokenizer = try loadTokenizer("t5-300")
        let ids = try tokenizer.encode("a cat")
        XCTAssertEqual(tokenizer.decode([-7] + ids + [Int32(tokenizer.vocabularySize), Int32.max]), tokenizer.decode(ids))
        XCTAssertEqual(tokenizer.decode([]), "")
    }

    func testConcurrentEncodingGivesTheSameIds() throws {
        let tokenizer = try loadTokenizer("umt5-style")
        let prompts = Array(try loadPrompts().prefix(64))
        let expected = try prompts.map { try tokenizer.encode($0) }
        let results = UnsafeMutableBufferPointer<[Int32]>.allocate(capacity: prompts.count)
        results.initialize(repeating: [])
        defer { results.deallocate() }
        DispatchQueue.concurrentPerform(iterations: prompts.count) { i in
            results[i] = (try? tokenizer.encode(prompts[i])) ?? [-1]
        }
        XCTAssertEqual(Array(results), expected)
    }

    func testInvalidMaxLength() throws {
        let tokenizer = try loadTokenizer("t5-300")
        XCTAssertThrowsError(try tokenizer.encode("hello", maxLength: 0)) { error in
            XCTAssertEqual((error as? KinemaError)?.code, .invalidArgument)
        }
        XCTAssertEqual(try tokenizer.encode("hello world", maxLength: 1), [1])
        XCTAssertEqual(try tokenizer.encode("hello world", addSpecialTokens: false, maxLength: 1).count, 1)
        let components = try loadTokenizer("components")  // its template adds two ids
        XCTAssertThrowsError(try components.encode("hello", maxLength: 1)) { error in
            XCTAssertEqual((error as? KinemaError)?.code, .invalidArgument)
        }
    }

    // MARK: - Prompt cleaning

    func testPromptCleanerMatchesPython() throws {
        let cases = try JSONDecoder().decode(
            [CleanerCase].self, from: Data(contentsOf: fixtureURL("tokenizer/prompt_cleaner.json")))
        XCTAssertGreaterThanOrEqual(cases.count, 300)
        for (index, c) in cases.enumerated() {
            XCTAssertEqual(PromptCleaner.clean(c.input), c.output, "case \(index) \(c.input.debugDescription)")
        }
    }

    func testPythonWhitespaceSet() {
        // str.isspace() over all of Unicode (CPython 3.11, Unicode 14).
        let expected: Set<UInt32> = [0x9, 0xA, 0xB, 0xC, 0xD, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x85, 0xA0, 0x1680,
                                     0x2000, 0x2001, 0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009,
                                     0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000]
        var found = Set<UInt32>()
        for v in UInt32(0)...0x10FFFF {
            if let s = Unicode.Scalar(v), PromptCleaner.isPythonWhitespace(s) { found.insert(v) }
        }
        XCTAssertEqual(found, expected)
        XCTAssertEqual(PromptCleaner.clean("\u{200B}a\u{180E}"), "\u{200B}a\u{180E}", "ZWSP and MVS are not whitespace")
    }

    // MARK: - Errors

    /// Writes the t5-300 tokenizer.json with `edit` applied and loads it.
    private func loadEdited(_ edit: (inout [String: Any]) -> Void) throws -> Tokenizer {
        let data = try Data(contentsOf: fixtureURL("tokenizer/t5-300/tokenizer.json"))
        guard var json = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw KinemaError.corrupt("fixture is not a JSON object")
        }
        edit(&json)
        let url = try makeTemporaryDirectory(self).appendingPathComponent("tokenizer.json")
        try JSONSerialization.data(withJSONObject: json).write(to: url)
        return try Tokenizer(url: url)
    }

    private func assertError(_ code: KinemaError.Code, mentioning text: String,
                             file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Tokenizer) {
        XCTAssertThrowsError(try body(), file: file, line: line) { error in
            guard let error = error as? KinemaError else {
                return XCTFail("not a KinemaError: \(error)", file: file, line: line)
            }
            XCTAssertEqual(error.code, code, error.message, file: file, line: line)
            XCTAssertTrue(error.message.contains(text), "\"\(error.message)\" does not mention \(text)",
                          file: file, line: line)
        }
    }

    func testUnsupportedComponentsAreNamed() {
        assertError(.unsupported, mentioning: "BertNormalizer") {
            try loadEdited { $0["normalizer"] = ["type": "BertNormalizer", "lowercase": true] }
        }
        assertError(.unsupported, mentioning: "Lowercase") {
            try loadEdited { $0["normalizer"] = ["type": "Sequence", "normalizers": [["type": "Lowercase"]]] }
        }
        assertError(.unsupported, mentioning: "ByteLevel") {
            try loadEdited { $0["pre_tokenizer"] = ["type": "ByteLevel", "add_prefix_space": false] }
        }
        assertError(.unsupported, mentioning: "Punctuation") {
            try loadEdited {
                $0["pre_tokenizer"] = ["type": "Sequence", "pretokenizers": [["type": "Punctuation"]]]
            }
        }
        assertError(.unsupported, mentioning: "BPE") {
            try loadEdited { $0["model"] = ["type": "BPE", "vocab": [String: Int](), "merges": [String]()] }
        }
        assertError(.unsupported, mentioning: "BertProcessing") {
            try loadEdited { $0["post_processor"] = ["type": "BertProcessing", "sep": ["</s>", 1], "cls": ["<s>", 0]] }
        }
        assertError(.unsupported, mentioning: "WordPiece") {
            try loadEdited { $0["decoder"] = ["type": "WordPiece", "prefix": "##", "cleanup": true] }
        }
        assertError(.unsupported, mentioning: "version") {
            try loadEdited { $0["version"] = "2.0" }
        }
        assertError(.unsupported, mentioning: "prepend_scheme") {
            try loadEdited {
                $0["pre_tokenizer"] = ["type": "Metaspace", "replacement": "\u{2581}", "prepend_scheme": "sometimes"]
            }
        }
    }

    func testMalformedFilesAreCorrupt() throws {
        let url = try makeTemporaryDirectory(self).appendingPathComponent("tokenizer.json")
        let data = try Data(contentsOf: fixtureURL("tokenizer/t5-300/tokenizer.json"))
        try data.prefix(data.count / 2).write(to: url)
        assertError(.corruptFile, mentioning: url.path) { try Tokenizer(url: url) }

        assertError(.io, mentioning: "missing.json") {
            try Tokenizer(url: url.deletingLastPathComponent().appendingPathComponent("missing.json"))
        }
        assertError(.corruptFile, mentioning: "model") {
            try loadEdited { $0.removeValue(forKey: "model") }
        }
        assertError(.corruptFile, mentioning: "type") {
            try loadEdited { $0["normalizer"] = ["precompiled_charsmap": "AAAA"] }
        }
        assertError(.corruptFile, mentioning: "base64") {
            try loadEdited { $0["normalizer"] = ["type": "Precompiled", "precompiled_charsmap": "not base64!"] }
        }
        assertError(.corruptFile, mentioning: "precompiled_charsmap") {
            // A header announcing a 400-byte trie followed by 4 bytes.
            try loadEdited { $0["normalizer"] = ["type": "Precompiled", "precompiled_charsmap": "kAEAAAAAAAA="] }
        }
        assertError(.corruptFile, mentioning: "unk_id") {
            try loadEdited {
                var model = $0["model"] as? [String: Any] ?? [:]
                model["unk_id"] = 100_000
                $0["model"] = model
            }
        }
        assertError(.corruptFile, mentioning: "vocab") {
            try loadEdited {
                var model = $0["model"] as? [String: Any] ?? [:]
                model["vocab"] = [["<pad>", "not a score"]]
                $0["model"] = model
            }
        }
        assertError(.corruptFile, mentioning: "empty") {
            try loadEdited {
                var model = $0["model"] as? [String: Any] ?? [:]
                model["vocab"] = [[String]]()
                $0["model"] = model
            }
        }
        assertError(.corruptFile, mentioning: "add_prefix_space") {
            try loadEdited {
                $0["pre_tokenizer"] = ["type": "Metaspace", "replacement": "\u{2581}", "add_prefix_space": false]
            }
        }
        assertError(.corruptFile, mentioning: "special token") {
            try loadEdited {
                $0["post_processor"] = ["type": "TemplateProcessing",
                                        "single": [["Sequence": ["id": "A", "type_id": 0]],
                                                   ["SpecialToken": ["id": "<eos>", "type_id": 0]]],
                                        "special_tokens": [String: Any]()]
            }
        }
        assertError(.missingComponent, mentioning: "<pad>") {
            try loadEdited {
                $0["added_tokens"] = [Any]()
                var model = $0["model"] as? [String: Any] ?? [:]
                var vocab = model["vocab"] as? [[Any]] ?? []
                vocab[0] = ["<nothing>", 0.0]
                model["vocab"] = vocab
                $0["model"] = model
            }
        }
    }

    func testCorruptCharsmapTrieIsAnErrorNotACrash() throws {
        // A trie whose root points far outside the array.
        var blob: [UInt8] = [4, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x7F]
        blob += Array("a\0".utf8)
        let charsmap = try PrecompiledCharsmap(blob: blob)
        var text = NormalizedText(original: "hello".unicodeScalars, byteOffset: 0)
        XCTAssertThrowsError(try charsmap.normalize(&text)) { error in
            XCTAssertEqual((error as? KinemaError)?.code, .corruptFile)
        }
    }

    // MARK: - Speed

    func testLongPromptIsFast() throws {
        let tokenizer = try loadTokenizer("umt5-style")
        let prompt = String(repeating: "A cinematic shot of a red fox running through a snowy forest, 色调艳丽，过曝。 ", count: 16)
        let ids = try tokenizer.encode(prompt)
        XCTAssertGreaterThan(ids.count, 512)
        let start = Date()
        for _ in 0..<5 { _ = try tokenizer.encode(prompt, maxLength: 512) }
        let perPrompt = Date().timeIntervalSince(start) / 5
        // A loose bound that holds in debug builds; release timings are in kinema-bench.
        XCTAssertLessThan(perPrompt, 0.25, "encoding a \(ids.count)-token prompt took \(perPrompt) s")
    }
}
