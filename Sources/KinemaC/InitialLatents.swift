import Foundation
import Kinema

/// Reads the initial latents a caller names by path: a safetensors file holding one tensor,
/// or several with one named "latents".
enum InitialLatentsFile {
    static func read(_ path: String) throws -> Tensor {
        guard FileManager.default.fileExists(atPath: path) else {
            throw KinemaError.io("initial latents file \(path) does not exist")
        }
        let file = try SafeTensorsFile(url: URL(fileURLWithPath: path))
        let name: String
        if file.names.count == 1, let only = file.names.first {
            name = only
        } else if file.names.contains("latents") {
            name = "latents"
        } else {
            throw KinemaError.invalidArgument(
                "\(path): expected one tensor or one named \"latents\"; found \(file.names.count): "
                    + file.names.prefix(8).joined(separator: ", "))
        }
        let tensor = try file.tensor(name)
        guard tensor.data.allSatisfy({ $0.isFinite }) else {
            throw KinemaError.invalidArgument("\(path): tensor \"\(name)\" contains NaN or infinity")
        }
        return tensor
    }
}
