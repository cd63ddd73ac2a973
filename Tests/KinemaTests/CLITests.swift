import Foundation
import XCTest
@testable import Kinema

/// The `kinema` command, run as a separate process from the build folder.
final class CLITests: XCTestCase {
    /// The `kinema` executable from the same build as this test bundle.
    var binary: URL {
        let bundle = Bundle(for: CLITests.self).bundleURL
        let candidates = [bundle.appendingPathComponent("kinema"),
                          bundle.deletingLastPathComponent().appendingPathComponent("kinema"),
                          bundle.appendingPathComponent("debug/kinema")]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[0]
    }

    func run(_ args: [String], environment: [String: String] = [:]) throws -> (status: Int32, out: String, err: String) {
        let process = Process()
        process.executableURL = binary
        process.arguments = args
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: DefaultModel.environmentVariable)
        for (k, v) in environment { env[k] = v }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
    }

    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: binary.path), "kinema not built at \(binary.path)")
    }

    func testGenerateWritesVideoAndReportsSettings() throws {
        let dir = try makeTemporaryDirectory(self)
        let out = dir.appendingPathComponent("cli.safetensors")
        let r = try run(["generate", "--model", fixtureURL("tiny-pipeline").path, "--prompt", "A cat walks.",
                         "--width", "32", "--height", "32", "--frames", "3", "--steps", "2", "--seed", "9",
                         "--sampler", "euler", "--output", out.path])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("3 frames") && r.out.contains("seed 9") && r.out.contains("euler"), r.out)
        XCTAssertTrue(r.err.contains("denoising"), r.err)
        let video = try SafeTensorsFile(url: out).tensor("video")
        XCTAssertEqual(video.shape, [3, 32, 32, 3])
    }

    func testShotsMakeOneClip() throws {
        let dir = try makeTemporaryDirectory(self)
        let out = dir.appendingPathComponent("shots.safetensors")
        let r = try run(["generate", "--model", fixtureURL("tiny-pipeline").path,
                         "--shot", "0.4:A cat walks.", "--shot", " 0.3 : A dog: it runs.",
                         "--width", "32", "--height", "32", "--fps", "10", "--steps", "2", "--seed", "9",
                         "--output", out.path])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("2 shots, 7 frames; cuts at 0.4 s (frame 4)"), r.err)
        XCTAssertEqual(try SafeTensorsFile(url: out).tensor("video").shape, [7, 32, 32, 3])
        // --beat belongs to the --shot before it, or to --prompt.
        let beats = try run(["generate", "--model", fixtureURL("tiny-pipeline").path,
                             "--shot", "0.5:A cat walks.", "--shot", "1:A dog runs.", "--beat", "0.5:A dog sleeps.",
                             "--width", "32", "--height", "32", "--fps", "8", "--steps", "1", "--output", out.path])
        XCTAssertEqual(beats.status, 0, beats.err)
        XCTAssertTrue(beats.err.contains("shot 2: beats start at latent frames 3"), beats.err)
        let prompt = try run(["generate", "--model", fixtureURL("tiny-pipeline").path, "--prompt", "A cat walks.",
                              "--beat", "0.5:A cat sleeps.", "--frames", "9", "--fps", "8",
                              "--width", "32", "--height", "32", "--steps", "1", "--output", out.path])
        XCTAssertEqual(prompt.status, 0, prompt.err)
        XCTAssertTrue(prompt.err.contains("note: beats start at latent frames 3"), prompt.err)
    }

    func testLatentsFileReplacesNoise() throws {
        let dir = try makeTemporaryDirectory(self)
        let fixture = try SafeTensorsFile(url: fixtureURL("pipeline/unipc-cfg1-f3.safetensors"))
        let latents = dir.appendingPathComponent("latents.safetensors")
        try SafeTensorsWriter.write([(name: "latents", tensor: try fixture.tensor("latents"))], to: latents)
        let out = dir.appendingPathComponent("v.safetensors")
        let r = try run(["generate", "--model", fixtureURL("tiny-pipeline").path,
                         "--prompt", "A small dog runs through a field of yellow flowers.",
                         "--negative-prompt", "static, blurred details, worst quality",
                         "--width", "48", "--height", "32", "--frames", "3", "--steps", "4", "--guidance", "1",
                         "--latents", latents.path, "--output", out.path])
        XCTAssertEqual(r.status, 0, r.err)
        assertClose(try SafeTensorsFile(url: out).tensor("video"), try fixture.tensor("video"), tolerance: 1e-3, "cli")
    }

    /// --image: a PNG as the first frame gives diffusers' image-to-video frames; a picture of
    /// another size is scaled to cover the frame and cropped, and says so.
    func testImageFileBecomesTheFirstFrame() throws {
        let dir = try makeTemporaryDirectory(self)
        let fixture = try SafeTensorsFile(url: fixtureURL("pipeline/image-euler-cfg1-f5.safetensors"))
        let latents = dir.appendingPathComponent("latents.safetensors")
        try SafeTensorsWriter.write([(name: "latents", tensor: try fixture.tensor("latents"))], to: latents)
        var image = try fixture.tensor("image")
        image.data = image.data.map { $0 / 255 }
        let png = try PNGSequenceWriter.write(frames: [image], to: dir.appendingPathComponent("png/"))[0]
        let out = dir.appendingPathComponent("v.safetensors")
        let r = try run(["generate", "--model", fixtureURL("tiny-pipeline").path,
                         "--prompt", "A small dog runs through a field of yellow flowers.",
                         "--negative-prompt", "static, blurred details, worst quality", "--sampler", "euler",
                         "--width", "48", "--height", "32", "--frames", "5", "--steps", "4", "--guidance", "1",
                         "--latents", latents.path, "--image", png.path, "--output", out.path])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.out.contains("image "), r.out)
        assertClose(try SafeTensorsFile(url: out).tensor("video"), try fixture.tensor("video"), tolerance: 1e-3, "cli")
        let other = try run(["generate", "--model", fixtureURL("tiny-pipeline").path, "--prompt", "A dog.",
                             "--width", "32", "--height", "32", "--frames", "5", "--steps", "1",
                             "--image", png.path, "--output", out.path])
        XCTAssertEqual(other.status, 0, other.err)
        XCTAssertTrue(other.err.contains("note: image 48x32 scaled to cover 32x32 and centre-cropped"), other.err)
        let missing = try run(["generate", "--model", fixtureURL("tiny-pipeline").path, "--prompt", "A dog.",
                               "--image", dir.appendingPathComponent("none.png").path, "--output", out.path])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.err.contains("image file") && missing.err.contains("does not exist"), missing.err)
    }

    func testBadArgumentsGiveOneLineErrors() throws {
        let model = fixtureURL("tiny-pipeline").path
        let dir = try makeTemporaryDirectory(self)
        let out = dir.appendingPathComponent("o.mp4").path
        let cases: [([String], String)] = [
            (["generate", "--model", model, "--output", out], "--prompt"),
            (["generate", "--model", model, "--prompt", "x", "--output", out, "--steps", "many"], "integer"),
            (["generate", "--model", model, "--prompt", "x", "--output", out, "--width", "33"], "multiple of 16"),
            (["generate", "--model", model, "--prompt", "x", "--output", out, "--steps", "0"], "steps"),
            (["generate", "--model", model, "--prompt", "x", "--output", out, "--sampler", "ddim"], "unipc or euler"),
            (["generate", "--model", model, "--prompt", "x", "--output", out, "--frames", "5", "--duration", "2"], "either"),
            (["generate", "--model", model, "--prompt", "x", "--bogus", "1", "--output", out], "unknown option"),
            (["generate", "--model", dir.appendingPathComponent("none").path, "--prompt", "x", "--output", out], "none"),
            (["generate", "--model", model, "--prompt", "x", "--shot", "1:y", "--output", out], "not both"),
            (["generate", "--model", model, "--shot", "1:y", "--duration", "2", "--output", out], "as long as its shots"),
            (["generate", "--model", model, "--shot", "y", "--output", out], "SECONDS:TEXT"),
            (["generate", "--model", model, "--shot", "-1:y", "--output", out], "SECONDS:TEXT"),
            (["generate", "--model", model, "--shot", "0.01:y", "--output", out], "shorter than one frame"),
            (["generate", "--model", model, "--beat", "1:y", "--shot", "2:z", "--output", out], "--beat follows"),
            (["generate", "--model", model, "--prompt", "x", "--beat", "soon:y", "--output", out], "SECONDS:TEXT"),
            (["frobnicate"], "unknown command"),
        ]
        for (args, needle) in cases {
            let r = try run(args, environment: ["KINEMA_MODEL": ""])
            XCTAssertNotEqual(r.status, 0, "\(args)")
            // Exactly one error line (a "loading" line may precede it).
            let errors = r.err.split(separator: "\n").filter { $0.hasPrefix("kinema:") }
            XCTAssertEqual(errors.count, 1, "\(args): \(r.err)")
            XCTAssertTrue(errors.first?.contains(needle) == true, "\(args): \(r.err)")
        }
        // A KINEMA_MODEL that names no model is an error naming the variable, not a fallback.
        let r = try run(["generate", "--prompt", "x", "--output", out],
                        environment: ["KINEMA_MODEL": dir.appendingPathComponent("none").path])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.err.contains("KINEMA_MODEL="), r.err)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), [])
    }

    /// Without --model and KINEMA_MODEL the CLI uses Kinema-Tiny from the source tree, with the
    /// size and frame rate its kinema.json recommends.
    func testDefaultModelIsKinemaTiny() throws {
        let dir = try makeTemporaryDirectory(self)
        let out = dir.appendingPathComponent("default.mp4").path
        let r = try run(["generate", "--prompt", "A red character smiles in a close-up.",
                         "--frames", "5", "--steps", "2", "--output", out])
        XCTAssertEqual(r.status, 0, r.err)
        XCTAssertTrue(r.err.contains("models/kinema-tiny"), r.err)
        let probe = try VideoProbe.probe(url: URL(fileURLWithPath: out))
        XCTAssertEqual(probe.width, 64)
        XCTAssertEqual(probe.height, 64)
        XCTAssertEqual(probe.frameCount, 5)
    }

    func testInfoDescribesModel() throws {
        let r = try run(["info", fixtureURL("tiny-pipeline").path, "--width", "64", "--height", "48", "--frames", "9"])
        XCTAssertEqual(r.status, 0, r.err)
        for needle in ["transformer", "vae", "text_encoder", "WanTransformer3DModel", "BF16", "parameters", "estimate for 64x48, 9 frames",
                       "BLAS: OpenBLAS", "text encoder kernel: "] {
            XCTAssertTrue(r.out.contains(needle), "missing \(needle) in \(r.out)")
        }
    }
}
