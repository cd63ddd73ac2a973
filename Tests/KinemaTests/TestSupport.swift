import Foundation
import XCTest
@testable import Kinema

/// Folder of committed test fixtures (Tests/KinemaTests/Fixtures), found from this file's path
/// so tests work from any working directory.
let fixturesDirectory: URL = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent()
    .appendingPathComponent("Fixtures", isDirectory: true)

func fixtureURL(_ relativePath: String) -> URL {
    fixturesDirectory.appendingPathComponent(relativePath)
}

/// A fresh temporary directory, removed when the test finishes.
func makeTemporaryDirectory(_ testCase: XCTestCase) throws -> URL {
    let dir = FileManager.default.temporaryDirectory
        .appendingPathComponent("kinema-test-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    testCase.addTeardownBlock { try? FileManager.default.removeItem(at: dir) }
    return dir
}

/// Asserts that `actual` matches `expected` in shape and within `tolerance` (max abs error).
func assertClose(_ actual: Tensor, _ expected: Tensor, tolerance: Float, _ label: String = "",
                 file: StaticString = #filePath, line: UInt = #line) {
    guard actual.shape == expected.shape else {
        XCTFail("\(label): shape \(actual.shape) != expected \(expected.shape)", file: file, line: line)
        return
    }
    var worst: Float = 0
    var worstIndex = 0
    for i in 0..<actual.count {
        let d = abs(actual.data[i] - expected.data[i])
        if !(d <= worst) { worst = d; worstIndex = i }  // also catches NaN
    }
    if !(worst <= tolerance) {
        XCTFail("\(label): max abs error \(worst) at index \(worstIndex) exceeds \(tolerance)", file: file, line: line)
    }
}

/// An `.rgb` image from a fixture tensor [H, W, 3] of 0–255 values.
func rgbImage(_ t: Tensor) throws -> ImageInput {
    guard t.rank == 3, t.shape[2] == 3 else { throw KinemaError.shape("image fixture \(t.shape) is not [H, W, 3]") }
    return .rgb(width: t.shape[1], height: t.shape[0], pixels: t.data.map { UInt8(max(0, min(255, $0.rounded()))) })
}
