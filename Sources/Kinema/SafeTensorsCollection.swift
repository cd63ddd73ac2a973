// Sharded checkpoints in the layout transformers and diffusers write
// (huggingface/transformers modeling_utils.py, huggingface_hub serialization): a
// `NAME.safetensors.index.json` whose `weight_map` sends each tensor name to a shard file.

import Foundation

/// Tensors spread over one or more safetensors files, served under one set of names.
///
/// Opened from a single file, from a shard index, or from every `*.safetensors` in a folder.
/// A name may live in only one file; the index must agree exactly with the shards' contents.
public final class SafeTensorsCollection: TensorSource {
    /// The file, index file or folder the collection was opened from.
    public let url: URL
    /// The files, sorted by name.
    public let files: [SafeTensorsFile]
    public let names: [String]
    private let owner: [String: Int]

    /// Opens the checkpoint `prefix` in `directory`: `prefix.safetensors` if present, otherwise
    /// `prefix.safetensors.index.json`. Neither present is `.missingComponent` naming both.
    public convenience init(directory: URL, prefix: String) throws {
        let single = directory.appendingPathComponent("\(prefix).safetensors")
        let index = directory.appendingPathComponent("\(prefix).safetensors.index.json")
        if FileManager.default.fileExists(atPath: single.path) {
            try self.init(file: single)
        } else if FileManager.default.fileExists(atPath: index.path) {
            try self.init(index: index)
        } else {
            throw KinemaError(.missingComponent, "no weights in \(directory.path): neither \(single.lastPathComponent) nor \(index.lastPathComponent) exists")
        }
    }

    /// Opens a single safetensors file.
    public convenience init(file: URL) throws {
        let opened = try SafeTensorsFile(url: file)
        self.init(url: file, files: [opened], owner: Dictionary(uniqueKeysWithValues: opened.names.map { ($0, 0) }))
    }

    /// Opens a shard index (`*.safetensors.index.json`) and every shard it lists, checking that
    /// each shard exists and holds exactly the names the index assigns to it.
    public convenience init(index: URL) throws {
        let path = index.path
        let json = try JSONValue.load(index)
        guard let root = json.objectValue else {
            throw KinemaError.corrupt("\(path): index is \(json.kindName), expected a JSON object")
        }
        guard let mapValue = root["weight_map"] else {
            throw KinemaError.corrupt("\(path): index has no 'weight_map'")
        }
        guard let map = mapValue.objectValue else {
            throw KinemaError.corrupt("\(path): 'weight_map' is \(mapValue.kindName), expected an object")
        }
        var shardOfName: [String: String] = [:]
        for (name, value) in map {
            guard let shard = value.stringValue else {
                throw KinemaError.corrupt("\(path): weight_map entry '\(name)' is \(value.kindName), expected a file name")
            }
            guard !shard.isEmpty, !shard.contains("/"), !shard.contains("\\"), shard != ".", shard != ".." else {
                throw KinemaError.corrupt("\(path): weight_map entry '\(name)' names '\(shard)', which is not a file in the index's folder")
            }
            shardOfName[name] = shard
        }
        guard !shardOfName.isEmpty else {
            throw KinemaError.corrupt("\(path): 'weight_map' is empty")
        }

        let folder = index.deletingLastPathComponent()
        let shardNames = Set(shardOfName.values).sorted()
        var files: [SafeTensorsFile] = []
        for shard in shardNames {
            let shardURL = folder.appendingPathComponent(shard)
            guard FileManager.default.fileExists(atPath: shardURL.path) else {
                throw KinemaError(.missingComponent, "\(path): names shard \(shard), which does not exist in \(folder.path)")
            }
            files.append(try SafeTensorsFile(url: shardURL))
        }

        var owner: [String: Int] = [:]
        for (fileIndex, file) in files.enumerated() {
            let shard = shardNames[fileIndex]
            for name in file.names {
                guard let listed = shardOfName[name] else {
                    throw KinemaError.corrupt("\(path): shard \(shard) holds tensor '\(name)', which the index does not list")
                }
                guard listed == shard else {
                    throw KinemaError.corrupt("\(path): tensor '\(name)' is in shard \(shard) but the index places it in \(listed)")
                }
                owner[name] = fileIndex
            }
        }
        if let absent = shardOfName.keys.sorted().first(where: { owner[$0] == nil }) {
            let shard = shardOfName[absent] ?? ""
            throw KinemaError.corrupt("\(path): the index places tensor '\(absent)' in shard \(shard), which does not contain it")
        }
        self.init(url: index, files: files, owner: owner)
    }

    /// Opens every `*.safetensors` file in `directory` (not recursing); a name found in two
    /// files is `.corruptFile` naming both.
    public convenience init(allFilesIn directory: URL) throws {
        let contents: [String]
        do {
            contents = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        } catch {
            throw KinemaError(.missingComponent, "\(directory.path): cannot list folder (\(error.localizedDescription))")
        }
        let shardNames = contents.filter { $0.hasSuffix(".safetensors") }.sorted()
        guard !shardNames.isEmpty else {
            throw KinemaError(.missingComponent, "\(directory.path): no .safetensors files")
        }
        var files: [SafeTensorsFile] = []
        var owner: [String: Int] = [:]
        for shard in shardNames {
            let file = try SafeTensorsFile(url: directory.appendingPathComponent(shard))
            for name in file.names {
                if let previous = owner[name] {
                    throw KinemaError.corrupt("\(directory.path): tensor '\(name)' is in both \(shardNames[previous]) and \(shard)")
                }
                owner[name] = files.count
            }
            files.append(file)
        }
        self.init(url: directory, files: files, owner: owner)
    }

    private init(url: URL, files: [SafeTensorsFile], owner: [String: Int]) {
        self.url = url
        self.files = files
        self.owner = owner
        self.names = owner.keys.sorted()
    }

    public func info(_ name: String) -> SafeTensorInfo? {
        guard let index = owner[name] else { return nil }
        return files[index].info(name)
    }

    public func tensor(_ name: String) throws -> Tensor {
        try file(holding: name).tensor(name)
    }

    public func weight(_ name: String) throws -> WeightData {
        try file(holding: name).weight(name)
    }

    /// The file that holds `name`.
    public func file(holding name: String) throws -> SafeTensorsFile {
        guard let index = owner[name] else {
            throw KinemaError(.missingComponent, "\(url.path): no tensor named '\(name)'")
        }
        return files[index]
    }
}
