import Foundation

/// A parsed JSON document, for the files whose structure must be checked by hand (safetensors
/// headers, shard indexes, model_index.json) before anything in them is trusted.
///
/// Integers and reals are kept apart so that a shape of `2.5` or an offset of `1e30` is caught
/// as "not an integer" rather than silently rounded.
enum JSONValue: Decodable, Equatable, Sendable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// Parses `data`; the error says why the text is not JSON.
    static func parse(_ data: Data) throws -> JSONValue {
        do {
            return try JSONDecoder().decode(JSONValue.self, from: data)
        } catch let error as DecodingError {
            throw KinemaError.corrupt("not valid JSON (\(syntaxErrorDetail(data) ?? describe(error)))")
        }
    }

    /// Where the text stops being JSON ("Invalid value around character 11."), which the
    /// decoder's own error does not say.
    static func syntaxErrorDetail(_ data: Data) -> String? {
        do {
            _ = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
            return nil
        } catch {
            return (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
        }
    }

    /// Reads and parses a file; a missing file is `.missingComponent`, bad JSON `.corruptFile`,
    /// both naming the path.
    static func load(_ url: URL) throws -> JSONValue {
        let data = try readFile(url)
        do {
            return try parse(data)
        } catch let error as KinemaError {
            throw KinemaError(error.code, "\(url.path): \(error.message)")
        }
    }

    var objectValue: [String: JSONValue]? {
        if case .object(let value) = self { return value }
        return nil
    }

    var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// A short name for the kind of value, for error messages.
    var kindName: String {
        switch self {
        case .null: return "null"
        case .bool: return "a boolean"
        case .int: return "an integer"
        case .double: return "a real number"
        case .string: return "a string"
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

/// Reads a whole file; a missing file is `.missingComponent`, other failures `.io`.
func readFile(_ url: URL) throws -> Data {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
        throw KinemaError(.missingComponent, "\(url.path): file not found")
    }
    guard !isDirectory.boolValue else {
        throw KinemaError.io("\(url.path): is a directory, expected a file")
    }
    do {
        return try Data(contentsOf: url)
    } catch {
        throw KinemaError.io("\(url.path): cannot read (\(error.localizedDescription))")
    }
}

/// Describes a `DecodingError` by the JSON key path it happened at, in the file's own key
/// spelling (`transformer.num_layers`, `dim_mult[2]`).
func describe(_ error: DecodingError) -> String {
    func path(_ codingPath: [CodingKey]) -> String {
        var text = ""
        for key in codingPath {
            if let index = key.intValue {
                text += "[\(index)]"
            } else {
                text += text.isEmpty ? key.stringValue : ".\(key.stringValue)"
            }
        }
        return text
    }
    switch error {
    case .typeMismatch(let type, let context):
        return "key '\(path(context.codingPath))' should be \(typeName(type))"
    case .valueNotFound(let type, let context):
        return "key '\(path(context.codingPath))' is null, expected \(typeName(type))"
    case .keyNotFound(let key, let context):
        return "missing key '\(path(context.codingPath + [key]))'"
    case .dataCorrupted(let context):
        let location = path(context.codingPath)
        let detail = (context.underlyingError as NSError?)?.localizedDescription ?? context.debugDescription
        return location.isEmpty ? detail : "key '\(location)': \(context.debugDescription)"
    @unknown default:
        return "\(error)"
    }
}

private func typeName(_ type: Any.Type) -> String {
    switch type {
    case is Int.Type: return "an integer"
    case is Double.Type, is Float.Type: return "a number"
    case is Bool.Type: return "a boolean"
    case is String.Type: return "a string"
    default:
        let name = String(describing: type)
        return name.hasPrefix("Array") ? "an array" : name.hasPrefix("Dictionary") ? "an object" : name
    }
}
