import Foundation

/// Reads an optional UTF-8 C string from a caller; invalid UTF-8 is an error naming `field`.
func decodeOptionalString(_ pointer: UnsafePointer<CChar>?, field: String) throws -> String? {
    guard let pointer else { return nil }
    guard let string = String(validatingCString: pointer) else {
        throw CallFailure.invalid("\(field) is not valid UTF-8")
    }
    return string
}

/// Reads a required UTF-8 C string from a caller.
func decodeString(_ pointer: UnsafePointer<CChar>?, field: String) throws -> String {
    guard let string = try decodeOptionalString(pointer, field: field) else {
        throw CallFailure.invalid("\(field) is NULL")
    }
    return string
}
