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
