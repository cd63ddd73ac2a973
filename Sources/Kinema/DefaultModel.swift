import Foundation

/// Finds the default model (Kinema-Tiny) when the caller gives no path.
public enum DefaultModel {
    public static let name = "kinema-tiny"
    public static let environmentVariable = "KINEMA_MODEL"

    /// Candidate directories, in order: `$KINEMA_MODEL`; `share/kinema/models/kinema-tiny` beside
    /// the installed library or executable (`<prefix>/lib` or `<prefix>/bin`); `models/kinema-tiny`
    /// in the source tree above a build folder; and in the current directory.
    public static func candidates(relativeTo binary: URL? = nil) -> [URL] {
        var result: [URL] = []
        if let env = ProcessInfo.processInfo.environment[environmentVariable], !env.isEmpty {
            result.append(URL(fileURLWithPath: env))
        }
        var anchors: [URL] = []
        if let binary { anchors.append(binary) }
        anchors.append(URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath())
        for anchor in anchors {
            let dir = anchor.deletingLastPathComponent()
            result.append(dir.deletingLastPathComponent().appendingPathComponent("share/kinema/models/\(name)"))
            // <repo>/.build/<config>/kinema → <repo>/models/kinema-tiny
            var up = dir
            for _ in 0..<4 {
                result.append(up.appendingPathComponent("models/\(name)"))
                up = up.deletingLastPathComponent()
            }
        }
        result.append(URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("models/\(name)"))
        return result
    }

    /// The first candidate that holds a `model_index.json`, or an error listing where it looked.
    /// A non-empty `$KINEMA_MODEL` is the caller's explicit choice: when it names no model
    /// directory that is an error, not a reason to fall back to another model.
    public static func locate(relativeTo binary: URL? = nil) throws -> URL {
        if let env = ProcessInfo.processInfo.environment[environmentVariable], !env.isEmpty {
            let url = URL(fileURLWithPath: env)
            guard FileManager.default.fileExists(atPath: url.appendingPathComponent("model_index.json").path) else {
                throw KinemaError(.missingComponent,
                                  "\(environmentVariable)=\(env) is not a model directory (no model_index.json there)")
            }
            return url.standardizedFileURL
        }
        let all = candidates(relativeTo: binary)
        for url in all where FileManager.default.fileExists(atPath: url.appendingPathComponent("model_index.json").path) {
            return url.standardizedFileURL
        }
        var seen = Set<String>()
        let looked = all.map(\.standardizedFileURL.path).filter { seen.insert($0).inserted }
        throw KinemaError(.missingComponent,
                          "no model path given and no default model found; set \(environmentVariable) or pass a model directory (looked in: \(looked.joined(separator: ", ")))")
    }
}
