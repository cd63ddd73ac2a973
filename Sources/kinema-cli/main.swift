// The `kinema` command: generate videos and inspect model directories.

import Foundation
import Kinema

#if canImport(Glibc)
import Glibc
#endif

let usage = """
usage:
  kinema generate [--model DIR] (--prompt TEXT | --shot SECONDS:TEXT ...) [--beat SECONDS:TEXT ...]
                  [--image FILE] [--negative-prompt TEXT]
                  [--width W --height H] [--frames N | --duration SECONDS] [--fps F]
                  [--steps S] [--guidance G] [--shift X] [--sampler unipc|euler] [--lead-in FRAMES]
                  [--seed K] [--latents FILE.safetensors] [--threads N] [--crf Q]
                  --output FILE.mp4|FILE.safetensors|DIR/
  kinema info [DIR] [--width W --height H] [--frames N]
  kinema --version

Without --model, the default model is used ($KINEMA_MODEL, or Kinema-Tiny next to the program).
--shot, given once per shot in order, makes a clip of several shots, each generated from its
own prompt and cut to the next at exactly the frame where it ends; for example
  kinema generate --shot "2:A close-up of a red face that smiles." \\
                  --shot "1.5:A wide shot of a red figure jumping." --output two-shots.mp4
--beat, after --prompt or after a --shot, changes the prompt at SECONDS into that shot (or the
clip) without a cut; for example
  kinema generate --prompt "A close-up of a red face that smiles." \\
                  --beat "2:A close-up of a red face that looks sad." --duration 4 --output beat.mp4
--lead-in FRAMES generates that many frames before each shot (or the clip) and drops them, so
that the kept frames start after the latent frames that open a generation; 0 turns off the
model's default (its kinema.json lead_in_frames)
--image makes the picture in FILE (PNG, JPEG, …; scaled to cover the frame, centre-cropped) the
clip's first frame, and the rest is generated to follow it; for example
  kinema generate --image start.png --prompt "A red face that smiles." --output from-image.mp4
"""

struct UsageError: Error, CustomStringConvertible { let description: String }

/// Parses `--name value` pairs; every option takes exactly one value, and only the options in
/// `repeatable` may be given more than once (their names and values, in order, are in `ordered`).
struct Options {
    var values: [String: String] = [:]
    var ordered: [(name: String, value: String)] = []
    var positional: [String] = []

    init(_ args: [String], allowed: Set<String>, repeatable: Set<String> = []) throws {
        var i = 0
        while i < args.count {
            let a = args[i]
            if a.hasPrefix("--") {
                let name = String(a.dropFirst(2))
                guard allowed.contains(name) else { throw UsageError(description: "unknown option \(a)") }
                guard i + 1 < args.count else { throw UsageError(description: "option \(a) needs a value") }
                if repeatable.contains(name) {
                    ordered.append((name, args[i + 1]))
                    i += 2
                    continue
                }
                guard values[name] == nil else { throw UsageError(description: "option \(a) given twice") }
                values[name] = args[i + 1]
                i += 2
            } else {
                positional.append(a)
                i += 1
            }
        }
    }

    func string(_ name: String) -> String? { values[name] }

    func int(_ name: String) throws -> Int? {
        guard let s = values[name] else { return nil }
        guard let v = Int(s) else { throw UsageError(description: "--\(name) expects an integer, got '\(s)'") }
        return v
    }

    func double(_ name: String) throws -> Double? {
        guard let s = values[name] else { return nil }
        guard let v = Double(s), v.isFinite else { throw UsageError(description: "--\(name) expects a number, got '\(s)'") }
        return v
    }
}

func modelURL(_ path: String?) throws -> URL {
    if let path { return URL(fileURLWithPath: path) }
    return try DefaultModel.locate()
}

// MARK: - generate

func generate(_ args: [String]) throws {
    let o = try Options(args, allowed: ["model", "prompt", "negative-prompt", "width", "height", "frames", "duration",
                                        "fps", "steps", "guidance", "shift", "sampler", "lead-in", "seed", "latents",
                                        "threads",
                                        "crf", "output", "shot", "beat", "image"], repeatable: ["shot", "beat"])
    guard o.positional.isEmpty else { throw UsageError(description: "unexpected argument '\(o.positional[0])'") }
    // Shots in order; each --beat belongs to the --shot before it, or to the --prompt.
    var shots: [Shot] = []
    var beats: [Beat] = []
    for (name, value) in o.ordered {
        let (seconds, text) = try secondsAndText(value, option: name)
        if name == "shot" {
            shots.append(Shot(prompt: text, durationSeconds: seconds))
        } else if shots.isEmpty {
            beats.append(Beat(atSeconds: seconds, prompt: text))
        } else {
            shots[shots.count - 1].beats.append(Beat(atSeconds: seconds, prompt: text))
        }
    }
    let prompt = o.string("prompt")
    guard (prompt == nil) != shots.isEmpty else {
        throw UsageError(description: shots.isEmpty ? "generate needs --prompt (or --shot)"
                                                    : "give either --prompt or --shot, not both")
    }
    if !beats.isEmpty && !shots.isEmpty {  // beats given before the first --shot
        throw UsageError(description: "--beat follows the --shot (or --prompt) it belongs to")
    }
    guard let output = o.string("output") else { throw UsageError(description: "generate needs --output") }
    if o.values["frames"] != nil && o.values["duration"] != nil {
        throw UsageError(description: "give either --frames or --duration, not both")
    }
    if !shots.isEmpty && (o.values["frames"] != nil || o.values["duration"] != nil) {
        throw UsageError(description: "a clip of shots is as long as its shots; drop --frames and --duration")
    }
    var request = GenerationRequest(prompt: prompt ?? "")
    request.shots = shots
    request.beats = beats
    request.negativePrompt = o.string("negative-prompt")
    request.width = try o.int("width")
    request.height = try o.int("height")
    request.frames = try o.int("frames")
    request.durationSeconds = try o.double("duration")
    request.fps = try o.double("fps")
    request.steps = try o.int("steps")
    request.guidance = try o.double("guidance").map(Float.init)
    request.flowShift = try o.double("shift").map(Float.init)
    request.leadInFrames = try o.int("lead-in")
    request.crf = try o.int("crf")
    if let s = o.string("sampler") {
        guard let kind = SamplerKind(rawValue: s) else {
            throw UsageError(description: "--sampler must be unipc or euler, got '\(s)'")
        }
        request.sampler = kind
    }
    if let s = o.string("seed") {
        guard let seed = UInt64(s) else { throw UsageError(description: "--seed expects a non-negative integer, got '\(s)'") }
        request.seed = seed
    }
    if let path = o.string("latents") {
        request.initialLatents = try SafeTensorsFile(url: URL(fileURLWithPath: path)).tensor("latents")
    }
    if let path = o.string("image") {
        request.image = .file(URL(fileURLWithPath: path))
    }
    request.outputPath = output
    var options = PipelineOptions()
    options.threads = try o.int("threads")
    if let t = options.threads, t <= 0 { throw UsageError(description: "--threads must be positive, got \(t)") }

    FFmpegLogging.showErrorsOnly()
    let bar = ProgressPrinter()
    let url = try modelURL(o.string("model"))
    bar.line("loading \(url.path)")
    let pipeline = try Pipeline(modelDirectory: url, options: options)
    let cancel = CancellationToken()
    SignalCancellation.install(cancel)
    let result = try pipeline.generate(request, cancel: cancel, progress: bar.update)
    bar.finish()
    for note in result.notes { bar.line("note: \(note)") }
    let t = result.timings
    print(String(format: "wrote %@: %d frames, %dx%d, %.4g fps (%.2f s), %d steps, guidance %.3g, shift %.3g, %@, seed %llu",
                 result.outputPath ?? "-", result.frames, result.width, result.height, result.fps,
                 result.durationSeconds, result.steps, Double(result.guidance), Double(result.flowShift),
                 result.sampler.rawValue, result.seed))
    let image = request.image == nil ? "" : String(format: "image %.2f s, ", t.imageEncoding)
    print(String(format: "time: text %.2f s, %@denoising %.2f s, decoding %.2f s, writing %.2f s, total %.2f s",
                 t.textEncoding, image, t.denoising, t.decoding, t.writing, t.total))
}

/// `SECONDS:TEXT` of a --shot (its length) or a --beat (its time).
func secondsAndText(_ value: String, option: String) throws -> (Double, String) {
    guard let colon = value.firstIndex(of: ":"),
          let seconds = Double(value[..<colon].trimmingCharacters(in: .whitespaces)), seconds.isFinite, seconds > 0 else {
        throw UsageError(description: "--\(option) expects SECONDS:TEXT with SECONDS a positive number, got '\(value)'")
    }
    return (seconds, String(value[value.index(after: colon)...]).trimmingCharacters(in: .whitespaces))
}

/// Ctrl-C cancels the running generation (which then removes its partial output); a
/// second Ctrl-C exits at once.
enum SignalCancellation {
    nonisolated(unsafe) static var token: CancellationToken?
    nonisolated(unsafe) static var source: DispatchSourceSignal?

    static func install(_ t: CancellationToken) {
        token = t
        signal(SIGINT, SIG_IGN)
        let s = DispatchSource.makeSignalSource(signal: SIGINT, queue: DispatchQueue.global())
        s.setEventHandler {
            if token?.isCancelled == true { exit(130) }
            FileHandle.standardError.write(Data("\ncancelling…\n".utf8))
            token?.cancel()
        }
        s.resume()
        source = s
    }
}

/// A one-line progress bar on a terminal; plain lines otherwise.
final class ProgressPrinter {
    let isTerminal = isatty(STDERR_FILENO) != 0
    var lastPhase: GenerationPhase?
    var lastStep = -1
    var lastTime: Double = 0
    var open = false

    func line(_ s: String) {
        if open { FileHandle.standardError.write(Data("\n".utf8)); open = false }
        FileHandle.standardError.write(Data((s + "\n").utf8))
    }

    func update(_ p: GenerationProgress) {
        if p.phase == lastPhase && p.step == lastStep { return }
        let rate = p.phase == lastPhase && p.elapsedSeconds > lastTime && p.step > lastStep
            ? Double(p.step - max(lastStep, 0)) / (p.elapsedSeconds - lastTime) : nil
        if p.phase != lastPhase { lastStep = 0 } else { lastStep = p.step }
        lastPhase = p.phase
        lastTime = p.elapsedSeconds
        let eta = p.etaSeconds.map { String(format: "ETA %.0fs", $0) } ?? "ETA --"
        let rateText = rate.map { String(format: "%.2f/s", $0) } ?? ""
        let step = "\(p.step)/\(p.totalSteps)"
        if isTerminal {
            let width = 24
            let filled = Int((p.fraction * Double(width)).rounded())
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            let text = String(format: "\r%-13@ %@ %3.0f%% %@ %@ %@ elapsed %.0fs\u{1B}[K",
                              p.phase.name as NSString, bar as NSString, p.fraction * 100, step as NSString,
                              rateText as NSString, eta as NSString, p.elapsedSeconds)
            FileHandle.standardError.write(Data(text.utf8))
            open = true
        } else {
            line(String(format: "%@ %@ %.0f%% %@ elapsed %.1fs %@", p.phase.name as NSString, step as NSString,
                        p.fraction * 100, rateText as NSString, p.elapsedSeconds, eta as NSString))
        }
    }

    func finish() {
        if open { FileHandle.standardError.write(Data("\n".utf8)); open = false }
    }
}

// MARK: - info

func info(_ args: [String]) throws {
    let o = try Options(args, allowed: ["width", "height", "frames", "model"])
    guard o.positional.count <= 1 else { throw UsageError(description: "info takes one model directory") }
    let url = try modelURL(o.positional.first ?? o.string("model"))
    let report = try ModelInfo(directory: url)
    let settings = try report.estimate(width: o.int("width"), height: o.int("height"), frames: o.int("frames"))
    print(report.describe())
    print(settings)
    print("BLAS: \(Compute.blasDescription)")
    print("text encoder kernel: \(Compute.textEncoderKernel)")
}

// MARK: - main

let arguments = Array(CommandLine.arguments.dropFirst())
do {
    switch arguments.first {
    case "generate": try generate(Array(arguments.dropFirst()))
    case "info": try info(Array(arguments.dropFirst()))
    case "--version", "version": print("kinema \(KinemaVersion.string)")
    case "help", "--help", "-h": print(usage)
    case nil:
        FileHandle.standardError.write(Data((usage + "\n").utf8))
        exit(2)
    case let other?:
        throw UsageError(description: "unknown command '\(other)' (try 'kinema help')")
    }
} catch let e as UsageError {
    FileHandle.standardError.write(Data("kinema: \(e.description)\n".utf8))
    exit(2)
} catch let e as KinemaError {
    FileHandle.standardError.write(Data("kinema: error: \(e.message)\n".utf8))
    exit(1)
} catch {
    FileHandle.standardError.write(Data("kinema: error: \(error)\n".utf8))
    exit(1)
}
