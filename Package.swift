// swift-tools-version:5.9
import PackageDescription
import Foundation

// The kernels are compiled for AVX2 + FMA on x86-64 (every x86-64 CPU since 2013-2015):
// the vectorised exp and norms run 3-5x faster than on the SSE2 baseline. Model loading
// checks the CPU first and reports an error instead of running into an illegal
// instruction. KINEMA_PORTABLE=1 builds for the baseline instead.
var kernelFlags: [SwiftSetting] = []
#if arch(x86_64)
if ProcessInfo.processInfo.environment["KINEMA_PORTABLE"] == nil {
    kernelFlags = [.unsafeFlags(["-Xcc", "-mavx2", "-Xcc", "-mfma"]), .define("KINEMA_AVX2")]
}
#endif

let package = Package(
    name: "Kinema",
    products: [
        .library(name: "Kinema", targets: ["Kinema"]),
        .executable(name: "kinema", targets: ["kinema-cli"]),
        .executable(name: "kinema-bench", targets: ["kinema-bench"]),
        // The C library (include/kinema.h). The product name "kinema" belongs to the CLI, so
        // the file is libKinemaC.so with the soname libkinema.so; `make lib` links
        // .build/release/libkinema.so to it and `make install` installs it as libkinema.so.
        .library(name: "KinemaC", type: .dynamic, targets: ["KinemaC"]),
    ],
    targets: [
        // OpenBLAS' CBLAS interface, found through pkg-config (libopenblas-dev).
        .systemLibrary(
            name: "CBLAS",
            path: "Sources/CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // FFmpeg headers plus small C functions for the macros Swift cannot import.
        .target(
            name: "CFFmpeg",
            path: "Sources/CFFmpeg",
            linkerSettings: [
                .linkedLibrary("avformat"),
                .linkedLibrary("avcodec"),
                .linkedLibrary("swscale"),
                .linkedLibrary("avutil"),
            ]
        ),
        // CPU feature detection (plain C, compiled for the baseline).
        .target(name: "CKinemaSupport", path: "Sources/CKinemaSupport"),
        .target(
            name: "Kinema",
            dependencies: ["CBLAS", "CFFmpeg", "CKinemaSupport"],
            path: "Sources/Kinema",
            swiftSettings: kernelFlags
        ),
        // The C types of the public header (structs, enums, callbacks), shared by the Swift
        // implementation and, through `make header`, by include/kinema.h.
        .systemLibrary(name: "CKinemaAPI", path: "Sources/CKinemaAPI"),
        // The C interface: `@_cdecl` functions over `GenerationEngine`. Linked into
        // libkinema.so with the Swift runtime inside (a C host needs no Swift toolchain) and
        // only the `kinema_*` symbols exported (Sources/KinemaC/exports.map).
        .target(
            name: "KinemaC",
            dependencies: ["Kinema", "CKinemaAPI", "CKinemaSupport"],
            path: "Sources/KinemaC",
            exclude: ["exports.map"],
            linkerSettings: [
                .unsafeFlags([
                    "-static-stdlib",
                    // Foundation's implementation-only dependencies, which autolinking names
                    // only for the shared toolchain libraries.
                    "-lCoreFoundation", "-l_FoundationICU", "-l_FoundationCollections", "-l_FoundationCShims",
                    "-lswiftSynchronization",
                    "-Xlinker", "--version-script=\(Context.packageDirectory)/Sources/KinemaC/exports.map",
                    "-Xlinker", "--no-undefined",
                    "-Xlinker", "-soname=libkinema.so",
                ]),
            ]
        ),
        .executableTarget(
            name: "kinema-cli",
            dependencies: ["Kinema"],
            path: "Sources/kinema-cli"
        ),
        .executableTarget(
            name: "kinema-bench",
            dependencies: ["Kinema"],
            path: "Sources/kinema-bench"
        ),
        .testTarget(
            name: "KinemaTests",
            dependencies: ["Kinema"],
            path: "Tests/KinemaTests",
            exclude: ["Fixtures"]
        ),
    ]
)
