// swift-tools-version:5.9
import PackageDescription

let package = Package(
    name: "Kinema",
    products: [
        .library(name: "Kinema", targets: ["Kinema"]),
        .executable(name: "kinema-bench", targets: ["kinema-bench"]),
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
        .target(
            name: "Kinema",
            dependencies: ["CBLAS", "CFFmpeg"],
            path: "Sources/Kinema"
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
