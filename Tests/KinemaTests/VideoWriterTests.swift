import Foundation
import XCTest
@testable import Kinema

final class VideoWriterTests: XCTestCase {

    // MARK: - MP4 round trips

    func testSmallClipAt16fpsRoundTripsAsH264() throws {
        try checkRoundTrip(width: 64, height: 48, frames: 17, fps: 16)
    }

    func testWiderClipAt24fpsRoundTripsAsH264() throws {
        try checkRoundTrip(width: 96, height: 64, frames: 33, fps: 24)
    }

    /// Writes a moving-gradient clip with the default options and checks everything the file
    /// says about itself, its layout, and the decoded pictures.
    private func checkRoundTrip(width: Int, height: Int, frames: Int, fps: Int,
                                file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("clip.mp4")
        let input = (0..<frames).map { movingGradient(width: width, height: height, index: $0, count: frames) }
        let writer = try MP4Writer(url: url, width: width, height: height,
                                   options: VideoEncodingOptions(frameRate: FrameRate(fps)))
        for frame in input { try writer.append(frame) }
        let result = try writer.finish()

        XCTAssertEqual(result.encoder, "libx264", file: file, line: line)
        XCTAssertEqual(result.codec, "h264", file: file, line: line)
        XCTAssertNil(result.fallbackReason, file: file, line: line)
        XCTAssertEqual(result.frameCount, frames, file: file, line: line)
        XCTAssertEqual(result.byteCount, try Data(contentsOf: url).count, file: file, line: line)
        XCTAssertEqual(try directoryEntries(dir), ["clip.mp4"], "no temporary file may remain", file: file, line: line)

        let info = try VideoProbe.probe(url: url)
        XCTAssertEqual(info.codecName, "h264", file: file, line: line)
        XCTAssertEqual(info.pixelFormat, "yuv420p", file: file, line: line)
        XCTAssertEqual(info.width, width, file: file, line: line)
        XCTAssertEqual(info.height, height, file: file, line: line)
        XCTAssertEqual(info.frameCount, frames, file: file, line: line)
        XCTAssertEqual(info.frameRate.framesPerSecond, Double(fps), accuracy: 1e-9, file: file, line: line)
        XCTAssertEqual(info.duration, Double(frames) / Double(fps), accuracy: 0.5 / Double(fps), file: file, line: line)
        XCTAssertEqual(info.colorPrimaries, "bt709", file: file, line: line)
        XCTAssertEqual(info.colorTransfer, "bt709", file: file, line: line)
        XCTAssertEqual(info.colorSpace, "bt709", file: file, line: line)
        XCTAssertEqual(info.colorRange, "tv", file: file, line: line)
        XCTAssertEqual(info.byteCount, result.byteCount, file: file, line: line)

        let atoms = try topLevelAtoms(url)
        let moov = try XCTUnwrap(atoms.firstIndex(of: "moov"), "no moov atom in \(atoms)", file: file, line: line)
        let mdat = try XCTUnwrap(atoms.firstIndex(of: "mdat"), "no mdat atom in \(atoms)", file: file, line: line)
        XCTAssertLessThan(moov, mdat, "faststart: moov must precede mdat, got \(atoms)", file: file, line: line)

        // The container's own colour box: 'colr' 'nclx', primaries/transfer/matrix 1 (BT.709),
        // full_range_flag 0.
        let bytes = [UInt8](try Data(contentsOf: url))
        let colr: [UInt8] = Array("colrnclx".utf8) + [0, 1, 0, 1, 0, 1, 0]
        XCTAssertTrue(bytes.indices.contains { bytes[$0...].starts(with: colr) }, "no BT.709 tv-range colr box",
                      file: file, line: line)

        let decoded = try VideoProbe.decodeFrames(url: url)
        XCTAssertEqual(decoded.count, frames, file: file, line: line)
        XCTAssertEqual(decoded.first?.shape, [height, width, 3], file: file, line: line)
        let quality = try psnr(decoded, input)
        XCTAssertGreaterThanOrEqual(quality, 35, "PSNR \(quality) dB at the default quality", file: file, line: line)
    }

    func testWithoutFaststartTheIndexFollowsTheMediaData() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("slow.mp4")
        var options = VideoEncodingOptions()
        options.faststart = false
        let writer = try MP4Writer(url: url, width: 32, height: 16, options: options)
        for i in 0..<3 { try writer.append(movingGradient(width: 32, height: 16, index: i, count: 3)) }
        _ = try writer.finish()
        let atoms = try topLevelAtoms(url)
        let moov = try XCTUnwrap(atoms.firstIndex(of: "moov"))
        let mdat = try XCTUnwrap(atoms.firstIndex(of: "mdat"))
        XCTAssertGreaterThan(moov, mdat, "atoms: \(atoms)")
    }

    /// Flat colours in the luma plane: BT.709 limited range gives Y = 16 + 219·(0.2126 R +
    /// 0.7152 G + 0.0722 B); BT.601 would put red at 81 and green at 145.
    func testLumaFollowsBT709LimitedRange() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("flat.mp4")
        let colours: [(Float, Float, Float)] = [(1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1), (0, 0, 0), (0.5, 0.5, 0.5)]
        let (w, h) = (32, 32)
        let writer = try MP4Writer(url: url, width: w, height: h)
        for (r, g, b) in colours {
            var data = [Float](repeating: 0, count: w * h * 3)
            for p in 0..<(w * h) { data[3 * p] = r; data[3 * p + 1] = g; data[3 * p + 2] = b }
            try writer.append(Tensor(shape: [h, w, 3], data: data))
        }
        _ = try writer.finish()

        var means: [Double] = []
        try VideoProbe.decode(url: url) { frame in
            let luma = try frame.plane(0, width: w, height: h)
            means.append(Double(luma.reduce(0) { $0 + Int($1) }) / Double(luma.count))
        }
        XCTAssertEqual(means.count, colours.count)
        for (mean, (r, g, b)) in zip(means, colours) {
            let expected = 16 + 219 * (0.2126 * Double(r) + 0.7152 * Double(g) + 0.0722 * Double(b))
            XCTAssertEqual(mean, expected, accuracy: 1.5, "colour (\(r), \(g), \(b))")
        }
    }

    func testFallsBackToTheNextEncoderAndSaysWhy() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("fallback.mp4")
        var options = VideoEncodingOptions()
        options.encoders = ["no-such-encoder", "mpeg4"]
        let (w, h, n) = (64, 48, 9)
        let input = (0..<n).map { movingGradient(width: w, height: h, index: $0, count: n) }
        let writer = try MP4Writer(url: url, width: w, height: h, options: options)
        for frame in input { try writer.append(frame) }
        let result = try writer.finish()
        XCTAssertEqual(result.encoder, "mpeg4")
        XCTAssertEqual(result.codec, "mpeg4")
        let reason = try XCTUnwrap(result.fallbackReason)
        XCTAssertTrue(reason.contains("no-such-encoder"), reason)

        let info = try VideoProbe.probe(url: url)
        XCTAssertEqual(info.codecName, "mpeg4")
        XCTAssertEqual(info.frameCount, n)
        let quality = try psnr(try VideoProbe.decodeFrames(url: url), input)
        XCTAssertGreaterThanOrEqual(quality, 35, "mpeg4 fallback PSNR \(quality) dB")
    }

    func testFrameRateAsAFraction() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("ntsc.mp4")
        let rate = FrameRate(numerator: 30000, denominator: 1001)
        let writer = try MP4Writer(url: url, width: 16, height: 16, options: VideoEncodingOptions(frameRate: rate))
        for i in 0..<5 { try writer.append(movingGradient(width: 16, height: 16, index: i, count: 5)) }
        _ = try writer.finish()
        let info = try VideoProbe.probe(url: url)
        XCTAssertEqual(info.frameRate.framesPerSecond, rate.framesPerSecond, accuracy: 1e-6)
        XCTAssertEqual(info.frameCount, 5)
    }

    func testFrameRateFromFramesPerSecond() throws {
        XCTAssertEqual(try FrameRate(framesPerSecond: 16), FrameRate(16))
        XCTAssertEqual(try FrameRate(framesPerSecond: 24.0), FrameRate(24))
        XCTAssertEqual(try FrameRate(framesPerSecond: 29.97), FrameRate(numerator: 30000, denominator: 1001))
        XCTAssertEqual(try FrameRate(framesPerSecond: 23.976), FrameRate(numerator: 24000, denominator: 1001))
        XCTAssertEqual(try FrameRate(framesPerSecond: 30000.0 / 1001), FrameRate(numerator: 30000, denominator: 1001))
        XCTAssertEqual(try FrameRate(framesPerSecond: 12.5), FrameRate(numerator: 25, denominator: 2))
        XCTAssertEqual(try FrameRate(framesPerSecond: 0.5), FrameRate(numerator: 1, denominator: 2))
        for bad in [0, -16, .nan, .infinity, 1001] as [Double] {
            assertKinemaError(.invalidArgument, "\(bad) fps") { _ = try FrameRate(framesPerSecond: bad) }
        }
    }

    func testReplacesAnExistingFile() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("clip.mp4")
        try Data("old".utf8).write(to: url)
        let writer = try MP4Writer(url: url, width: 16, height: 16)
        try writer.append(movingGradient(width: 16, height: 16, index: 0, count: 1))
        let result = try writer.finish()
        XCTAssertEqual(try VideoProbe.probe(url: url).frameCount, 1)
        XCTAssertEqual(result.byteCount, try Data(contentsOf: url).count)
        XCTAssertEqual(try directoryEntries(dir), ["clip.mp4"])
    }

    // MARK: - MP4 errors

    func testRejectsOddZeroAndOversizedDimensions() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("bad.mp4")
        for (w, h) in [(63, 48), (64, 47), (0, 48), (64, 0), (-2, 48), (32768, 16)] {
            assertKinemaError(.invalidArgument, "\(w)x\(h)") {
                _ = try MP4Writer(url: url, width: w, height: h)
            }
        }
        XCTAssertEqual(try directoryEntries(dir), [])
    }

    func testRejectsBadOptions() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("bad.mp4")
        let bad: [VideoEncodingOptions] = [
            VideoEncodingOptions(frameRate: FrameRate(0)),
            VideoEncodingOptions(frameRate: FrameRate(numerator: 16, denominator: 0)),
            VideoEncodingOptions(frameRate: FrameRate(-16)),
            VideoEncodingOptions(crf: -1),
            VideoEncodingOptions(crf: 52),
            VideoEncodingOptions(encoders: []),
        ]
        for options in bad {
            assertKinemaError(.invalidArgument, "\(options)") {
                _ = try MP4Writer(url: url, width: 16, height: 16, options: options)
            }
        }
        var preset = VideoEncodingOptions()
        preset.preset = "not-a-preset"
        preset.encoders = ["libx264"]
        assertKinemaError(.encoder, "unknown preset") {
            _ = try MP4Writer(url: url, width: 16, height: 16, options: preset)
        }
        XCTAssertEqual(try directoryEntries(dir), [])
    }

    func testNoUsableEncoderIsAnEncoderErrorNamingEachCandidate() throws {
        let dir = try makeTemporaryDirectory(self)
        var options = VideoEncodingOptions()
        options.encoders = ["no-such-encoder", "png", "aac"]
        do {
            _ = try MP4Writer(url: dir.appendingPathComponent("x.mp4"), width: 16, height: 16, options: options)
            XCTFail("expected an error")
        } catch let error as KinemaError {
            XCTAssertEqual(error.code, .encoder)
            for name in options.encoders { XCTAssertTrue(error.message.contains(name), error.message) }
        }
        XCTAssertEqual(try directoryEntries(dir), [])
    }

    func testFinishingWithoutFramesFailsAndLeavesNothing() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("empty.mp4")
        let writer = try MP4Writer(url: url, width: 16, height: 16)
        XCTAssertEqual(try directoryEntries(dir).count, 1, "the temporary file exists while writing")
        assertKinemaError(.invalidArgument, "no frames") { _ = try writer.finish() }
        XCTAssertEqual(try directoryEntries(dir), [])
        assertKinemaError(.wrongState, "after failure") {
            try writer.append(movingGradient(width: 16, height: 16, index: 0, count: 1))
        }
    }

    func testMissingDirectoryIsAnIOErrorNamingThePath() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("missing/clip.mp4")
        do {
            _ = try MP4Writer(url: url, width: 16, height: 16)
            XCTFail("expected an error")
        } catch let error as KinemaError {
            XCTAssertEqual(error.code, .io)
            XCTAssertTrue(error.message.contains(url.path), error.message)
        }
        XCTAssertEqual(try directoryEntries(dir), [])
    }

    /// Root may write into any directory whatever its mode, so the unwritable place is a path
    /// below a regular file.
    func testPathBelowARegularFileIsAnIOError() throws {
        let dir = try makeTemporaryDirectory(self)
        let file = dir.appendingPathComponent("file.txt")
        try Data("x".utf8).write(to: file)
        let url = file.appendingPathComponent("clip.mp4")
        do {
            _ = try MP4Writer(url: url, width: 16, height: 16)
            XCTFail("expected an error")
        } catch let error as KinemaError {
            XCTAssertEqual(error.code, .io)
            XCTAssertTrue(error.message.contains(url.path), error.message)
        }
        XCTAssertEqual(try directoryEntries(dir), ["file.txt"])
    }

    func testDestinationThatIsADirectoryFailsAtFinishAndLeavesNothingElse() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("taken.mp4")
        try FileManager.default.createDirectory(at: url.appendingPathComponent("inside"), withIntermediateDirectories: true)
        let writer = try MP4Writer(url: url, width: 16, height: 16)
        try writer.append(movingGradient(width: 16, height: 16, index: 0, count: 1))
        assertKinemaError(.io, "rename onto a directory") { _ = try writer.finish() }
        XCTAssertEqual(try directoryEntries(dir), ["taken.mp4"])
        XCTAssertEqual(try directoryEntries(url), ["inside"])
    }

    func testWrongFrameShapeIsRejectedAndTheWriterCarriesOn() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("clip.mp4")
        let writer = try MP4Writer(url: url, width: 16, height: 16)
        assertKinemaError(.shapeMismatch, "tensor") { try writer.append(Tensor(zeros: [16, 16, 4])) }
        let short = [Float](repeating: 0.5, count: 16 * 16 * 3 - 1)
        assertKinemaError(.shapeMismatch, "buffer") { try short.withUnsafeBufferPointer { try writer.append(frame: $0) } }
        try writer.append(movingGradient(width: 16, height: 16, index: 0, count: 1))
        XCTAssertEqual(try writer.finish().frameCount, 1)
    }

    func testOutOfRangeAndNaNValuesAreClamped() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("clamp.mp4")
        let (w, h) = (16, 16)
        let writer = try MP4Writer(url: url, width: w, height: h)
        try writer.append(Tensor(shape: [h, w, 3], data: [Float](repeating: 7, count: w * h * 3)))
        try writer.append(Tensor(shape: [h, w, 3], data: [Float](repeating: -3, count: w * h * 3)))
        try writer.append(Tensor(shape: [h, w, 3], data: [Float](repeating: .nan, count: w * h * 3)))
        _ = try writer.finish()
        let frames = try VideoProbe.decodeFrames(url: url)
        XCTAssertEqual(frames.count, 3)
        assertClose(frames[0], try Tensor(shape: [h, w, 3], data: [Float](repeating: 1, count: w * h * 3)), tolerance: 2 / 255.0, "above 1")
        assertClose(frames[1], Tensor(zeros: [h, w, 3]), tolerance: 2 / 255.0, "below 0")
        assertClose(frames[2], Tensor(zeros: [h, w, 3]), tolerance: 2 / 255.0, "NaN")
    }

    func testCancelLeavesNothing() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("cancelled.mp4")
        let writer = try MP4Writer(url: url, width: 16, height: 16)
        for i in 0..<4 { try writer.append(movingGradient(width: 16, height: 16, index: i, count: 4)) }
        writer.cancel()
        writer.cancel()
        XCTAssertEqual(try directoryEntries(dir), [])
        assertKinemaError(.wrongState, "finish after cancel") { _ = try writer.finish() }
    }

    func testDroppingAnUnfinishedWriterLeavesNothing() throws {
        let dir = try makeTemporaryDirectory(self)
        do {
            let writer = try MP4Writer(url: dir.appendingPathComponent("dropped.mp4"), width: 16, height: 16)
            try writer.append(movingGradient(width: 16, height: 16, index: 0, count: 1))
        }
        XCTAssertEqual(try directoryEntries(dir), [])
    }

    func testFinishTwiceIsAWrongStateError() throws {
        let dir = try makeTemporaryDirectory(self)
        let url = dir.appendingPathComponent("once.mp4")
        let writer = try MP4Writer(url: url, width: 16, height: 16)
        try writer.append(movingGradient(width: 16, height: 16, index: 0, count: 1))
        _ = try writer.finish()
        assertKinemaError(.wrongState, "second finish") { _ = try writer.finish() }
        writer.cancel()
        XCTAssertEqual(try directoryEntries(dir), ["once.mp4"], "cancel after finish keeps the file")
    }

    // MARK: - Probe errors

    func testProbeErrors() throws {
        let dir = try makeTemporaryDirectory(self)
        assertKinemaError(.io, "missing file") { _ = try VideoProbe.probe(url: dir.appendingPathComponent("none.mp4")) }
        let garbage = dir.appendingPathComponent("garbage.mp4")
        try Data((0..<4096).map { UInt8(truncatingIfNeeded: $0 &* 7919) }).write(to: garbage)
        assertKinemaError(.corruptFile, "garbage") { _ = try VideoProbe.probe(url: garbage) }
        assertKinemaError(.corruptFile, "garbage decode") { _ = try VideoProbe.decodeFrames(url: garbage) }
    }

    // MARK: - PNG sequences

    func testPNGSequenceRoundTripsExactly() throws {
        let parent = try makeTemporaryDirectory(self)
        let dir = parent.appendingPathComponent("frames")
        let (w, h, n) = (13, 7, 3)  // PNG has no even-size requirement
        let input = (0..<n).map { movingGradient(width: w, height: h, index: $0, count: n) }
        let urls = try PNGSequenceWriter.write(frames: input, to: dir)
        XCTAssertEqual(urls.map(\.lastPathComponent), ["frame_00001.png", "frame_00002.png", "frame_00003.png"])
        XCTAssertEqual(try directoryEntries(dir), ["frame_00001.png", "frame_00002.png", "frame_00003.png"])
        XCTAssertEqual(try directoryEntries(parent), ["frames"], "no temporary directory may remain")
        for (url, frame) in zip(urls, input) {
            let bytes = try Data(contentsOf: url)
            XCTAssertEqual(Array(bytes.prefix(8)), [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])
            let info = try VideoProbe.probe(url: url)
            XCTAssertEqual(info.codecName, "png")
            XCTAssertEqual(info.pixelFormat, "rgb24")
            XCTAssertEqual([info.width, info.height], [w, h])
            let decoded = try VideoProbe.decodeFrames(url: url)
            XCTAssertEqual(decoded.count, 1)
            let quantized = try Tensor(shape: frame.shape, data: frame.data.map { (($0 * 255).rounded()) / 255 })
            assertClose(try XCTUnwrap(decoded.first), quantized, tolerance: 1e-6, url.lastPathComponent)
        }
    }

    func testPNGSequenceFillsAnExistingEmptyDirectory() throws {
        let dir = try makeTemporaryDirectory(self)
        let urls = try PNGSequenceWriter.write(frames: [Tensor(zeros: [4, 4, 3])], to: dir)
        XCTAssertEqual(urls.map(\.lastPathComponent), ["frame_00001.png"])
        XCTAssertEqual(try directoryEntries(dir), ["frame_00001.png"])
    }

    func testPNGSequenceErrorsLeaveNothing() throws {
        let parent = try makeTemporaryDirectory(self)
        let dir = parent.appendingPathComponent("frames")
        assertKinemaError(.invalidArgument, "no frames") { _ = try PNGSequenceWriter.write(frames: [], to: dir) }
        assertKinemaError(.shapeMismatch, "mixed sizes") {
            _ = try PNGSequenceWriter.write(frames: [Tensor(zeros: [4, 4, 3]), Tensor(zeros: [4, 6, 3])], to: dir)
        }
        assertKinemaError(.shapeMismatch, "not RGB") {
            _ = try PNGSequenceWriter.write(frames: [Tensor(zeros: [4, 4, 4])], to: dir)
        }
        assertKinemaError(.invalidArgument, "zero size") {
            _ = try PNGSequenceWriter.write(frames: [Tensor(zeros: [0, 4, 3])], to: dir)
        }
        XCTAssertEqual(try directoryEntries(parent), [])

        assertKinemaError(.io, "missing parent") {
            _ = try PNGSequenceWriter.write(frames: [Tensor(zeros: [4, 4, 3])], to: parent.appendingPathComponent("a/b"))
        }
        let file = parent.appendingPathComponent("file.txt")
        try Data("x".utf8).write(to: file)
        assertKinemaError(.io, "below a file") {
            _ = try PNGSequenceWriter.write(frames: [Tensor(zeros: [4, 4, 3])], to: file.appendingPathComponent("frames"))
        }
        assertKinemaError(.io, "onto a file") {
            _ = try PNGSequenceWriter.write(frames: [Tensor(zeros: [4, 4, 3])], to: file)
        }
        XCTAssertEqual(try directoryEntries(parent), ["file.txt"])

        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: dir.appendingPathComponent("notes.txt"))
        assertKinemaError(.io, "non-empty directory") {
            _ = try PNGSequenceWriter.write(frames: [Tensor(zeros: [4, 4, 3])], to: dir)
        }
        XCTAssertEqual(try directoryEntries(parent), ["file.txt", "frames"])
        XCTAssertEqual(try directoryEntries(dir), ["notes.txt"])
    }

    // MARK: - Helpers

    /// A smooth colour field drifting across the frame with a soft moving highlight and a
    /// little fine grey texture, standing in for generated content. (Fine texture in the
    /// colour difference alone would be lost to 4:2:0 subsampling at any quality.)
    private func movingGradient(width: Int, height: Int, index: Int, count: Int) -> Tensor {
        let t = Float(index) / Float(max(count, 1))
        var data = [Float](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let u = Float(x) / Float(width), v = Float(y) / Float(height)
                let dx = u - (0.2 + 0.6 * t), dy = v - 0.5
                let highlight = 0.35 * expf(-(dx * dx + dy * dy) * 18)
                let texture = 0.04 * sinf(Float(x) * 1.3 + Float(y) * 0.7 + 6 * t)
                let i = (y * width + x) * 3
                data[i] = 0.15 + 0.6 * u + highlight + texture
                data[i + 1] = 0.2 + 0.5 * (0.5 + 0.5 * sinf(2 * .pi * (v + t))) + highlight + texture
                data[i + 2] = 0.7 - 0.5 * v + 0.2 * cosf(2 * .pi * (u - t)) + texture
            }
        }
        return Tensor(unchecked: [height, width, 3], data: data.map { min(max($0, 0), 1) })
    }

    /// PSNR in dB over all frames and channels, peak 1.
    private func psnr(_ actual: [Tensor], _ expected: [Tensor]) throws -> Double {
        guard actual.count == expected.count else {
            throw KinemaError.shape("\(actual.count) frames decoded, \(expected.count) written")
        }
        var squared = 0.0, count = 0
        for (a, e) in zip(actual, expected) {
            guard a.shape == e.shape else { throw KinemaError.shape("frame shape \(a.shape) != \(e.shape)") }
            for i in 0..<a.count {
                let d = Double(a.data[i] - e.data[i])
                squared += d * d
            }
            count += a.count
        }
        let mse = squared / Double(max(count, 1))
        return mse == 0 ? .infinity : 10 * log10(1 / mse)
    }

    /// The four-character types of the file's top-level ISO-BMFF boxes, in order.
    private func topLevelAtoms(_ url: URL) throws -> [String] {
        let bytes = [UInt8](try Data(contentsOf: url))
        var atoms: [String] = []
        var offset = 0
        while offset + 8 <= bytes.count {
            var size = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
            let type = String(decoding: bytes[offset + 4..<offset + 8], as: UTF8.self)
            if size == 1, offset + 16 <= bytes.count {
                size = bytes[offset + 8..<offset + 16].reduce(0) { $0 << 8 | Int($1) }
            } else if size == 0 {
                size = bytes.count - offset
            }
            guard size >= 8 else { throw KinemaError.corrupt("box \(type) at \(offset) has size \(size)") }
            atoms.append(type)
            offset += size
        }
        return atoms
    }

    private func directoryEntries(_ dir: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
    }

    private func assertKinemaError(_ code: KinemaError.Code, _ label: String,
                                   file: StaticString = #filePath, line: UInt = #line, _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("\(label): expected a \(code) error", file: file, line: line)
        } catch let error as KinemaError {
            XCTAssertEqual(error.code, code, "\(label): \(error.message)", file: file, line: line)
        } catch {
            XCTFail("\(label): unexpected error \(error)", file: file, line: line)
        }
    }
}
