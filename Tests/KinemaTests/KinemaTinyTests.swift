import Foundation
import XCTest
@testable import Kinema

/// The embedded default model, models/kinema-tiny: a trained Wan2.1 pipeline, checked against
/// diffusers' `WanPipeline` on the same initial latents
/// (tools/reference/make_kinema_tiny_fixtures.py → Fixtures/kinema-tiny).
final class KinemaTinyTests: XCTestCase {
    static let modelURL = fixturesDirectory
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("models/kinema-tiny", isDirectory: true)

    struct Case: Decodable {
        let name: String, sampler: String, guidance: Float, frames: Int, steps: Int
        let prompt: String, negative_prompt: String, height: Int, width: Int
    }

    /// The request of a fixture case, starting from the fixture's latents.
    func request(_ c: Case, fixture: SafeTensorsFile) throws -> GenerationRequest {
        var r = GenerationRequest(prompt: c.prompt)
        r.negativePrompt = c.negative_prompt
        r.width = c.width; r.height = c.height; r.frames = c.frames
        r.steps = c.steps; r.guidance = c.guidance
        r.sampler = SamplerKind(rawValue: c.sampler)
        r.initialLatents = try fixture.tensor("latents")
        return r
    }

    /// The model is part of the repository and is what DefaultModel finds from the build tree.
    func testIsTheDefaultModel() throws {
        let found = try DefaultModel.locate(relativeTo: KinemaTinyTests.modelURL.appendingPathComponent("x"))
        XCTAssertEqual(found.resolvingSymlinksInPath().path,
                       KinemaTinyTests.modelURL.standardizedFileURL.resolvingSymlinksInPath().path)
    }

    /// kinema.json's recommendations become the pipeline's defaults; the whole folder stays
    /// small enough to ship in the repository.
    func testRecommendedSettingsAndSize() throws {
        let p = try Pipeline(modelDirectory: KinemaTinyTests.modelURL)
        XCTAssertEqual(p.defaults.width, 64)
        XCTAssertEqual(p.defaults.height, 64)
        XCTAssertEqual(p.defaults.fps, 8)
        XCTAssertEqual(p.defaults.sampler, .unipc)
        XCTAssertGreaterThan(p.defaults.steps, 1)
        // Kept frames start after the first latent frame and the chunk after it (the training
        // README's lead-in measurement).
        XCTAssertEqual(p.defaults.leadInFrames, 5)
        var bytes = 0
        let files = FileManager.default.enumerator(at: KinemaTinyTests.modelURL, includingPropertiesForKeys: [.fileSizeKey])
        while let url = files?.nextObject() as? URL {
            bytes += (try url.resourceValues(forKeys: [.fileSizeKey]).fileSize) ?? 0
        }
        XCTAssertLessThanOrEqual(bytes, 31 * 1024 * 1024, "models/kinema-tiny is \(bytes) bytes")
    }

    /// UniPC with guidance 5 over 17 frames and Euler without guidance over 9: the Swift
    /// engine's frames equal diffusers' within 1e-3 (max abs, values in [0, 1]), the tolerance
    /// of the random-weight pipeline parity test.
    func testMatchesDiffusersWanPipeline() throws {
        let p = try Pipeline(modelDirectory: KinemaTinyTests.modelURL)
        let data = try Data(contentsOf: fixtureURL("kinema-tiny/cases.json"))
        let cases = try JSONDecoder().decode([Case].self, from: data)
        XCTAssertEqual(cases.count, 2)
        let dir = try makeTemporaryDirectory(self)
        for c in cases {
            let fixture = try SafeTensorsFile(url: fixtureURL("kinema-tiny/\(c.name).safetensors"))
            var r = try request(c, fixture: fixture)
            let out = dir.appendingPathComponent("\(c.name).safetensors")
            r.outputPath = out.path
            let result = try p.generate(r)
            XCTAssertEqual(result.frames, c.frames, c.name)
            assertClose(try SafeTensorsFile(url: out).tensor("video"), try fixture.tensor("video"),
                        tolerance: 1e-3, c.name)
        }
    }

    /// Image-to-video on the trained model, from a frame the acting world rendered: the Swift
    /// engine's frames equal diffusers' `WanImageToVideoPipeline(expand_timesteps=True)` within
    /// the same 1e-3, and the first frame is the image (through the VAE) within 0.1.
    func testImageToVideoMatchesDiffusers() throws {
        let p = try Pipeline(modelDirectory: KinemaTinyTests.modelURL)
        let data = try Data(contentsOf: fixtureURL("kinema-tiny/image-cases.json"))
        let cases = try JSONDecoder().decode([Case].self, from: data)
        XCTAssertEqual(cases.count, 1)
        for c in cases {
            let fixture = try SafeTensorsFile(url: fixtureURL("kinema-tiny/\(c.name).safetensors"))
            var r = try request(c, fixture: fixture)
            let image = try fixture.tensor("image")
            r.image = try rgbImage(image)
            r.returnFrames = true
            let video = try XCTUnwrap(try p.generate(r).video)
            assertClose(video, try fixture.tensor("video"), tolerance: 1e-3, c.name)
            let plane = c.width * c.height * 3
            let firstError = (0..<plane).map { abs(video.data[$0] - image.data[$0] / 255) }
            XCTAssertLessThan(firstError.reduce(0, +) / Float(plane), 0.1, "mean error of the first frame")
        }
    }
}
