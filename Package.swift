// swift-tools-version: 6.1
//
// upres: deep-learning super-resolution of brain MRI. The layers are described in DESIGN.md
// (shared/); each is a target here and imports only the layers above it.
//
// libtorch is found under /usr (Debian's libtorch-dev) unless LIBTORCH names another install
// (a libtorch 2.x tree with include/ and lib/, for example a CUDA build on a GPU machine).

import Foundation
import PackageDescription

let env = ProcessInfo.processInfo.environment
let libtorch = env["LIBTORCH"].flatMap { $0.isEmpty ? nil : $0 }

let torchIncludes: [String] = {
    if let root = libtorch {
        return ["-isystem", "\(root)/include", "-isystem", "\(root)/include/torch/csrc/api/include"]
    }
    return ["-isystem", "/usr/include/torch/csrc/api/include"]
}()

// Data-parallel training (c10d over Gloo) needs the Gloo headers that libtorch's c10d headers
// include: Debian's libgloo-dev for the libtorch under /usr, or a LIBTORCH tree that carries
// include/gloo (PyTorch's wheels do not). Without them the shim reports data parallel as absent.
let glooSettings: [CXXSetting] = {
    guard let root = libtorch else { return [.define("UPRES_C10D_GLOO")] }
    return FileManager.default.fileExists(atPath: "\(root)/include/gloo") ? [.define("UPRES_C10D_GLOO")] : []
}()

let torchLinker: [LinkerSetting] = {
    var flags: [String] = []
    if let root = libtorch { flags += ["-L\(root)/lib", "-Xlinker", "-rpath", "-Xlinker", "\(root)/lib"] }
    return [
        .unsafeFlags(flags),
        .linkedLibrary("torch"),
        .linkedLibrary("torch_cpu"),
        .linkedLibrary("c10"),
    ]
}()

// ITK 5.2 from Debian (libinsighttoolkit5-dev): headers in /usr/include/ITK-5.2, libraries in
// /usr/lib. CITK instantiates float 3-D images only, so that it builds in about a minute.
let itkVersion = "5.2"
let itkLibraries = ["ITKCommon", "ITKBiasCorrection", "itkvnl", "itkvnl_algo", "ITKStatistics", "ITKTransform", "ITKOptimizersv4",
                    "ITKRegistrationMethodsv4", "ITKSmoothing", "ITKSpatialObjects", "ITKIOGDCM", "ITKIOImageBase", "itksys"]

let package = Package(
    name: "upres",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "upres", targets: ["upres"]),
        .executable(name: "upres-bench", targets: ["UpresBench"]),
        .library(name: "Torch", targets: ["Torch"]),
        .library(name: "NN", targets: ["NN"]),
        .library(name: "Imaging", targets: ["Imaging"]),
        .library(name: "SuperResolution", targets: ["SuperResolution"]),
        .library(name: "Report", targets: ["Report"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
    ],
    targets: [
        .target(
            name: "CTorch",
            cxxSettings: [
                .unsafeFlags(torchIncludes + ["-Wno-deprecated-declarations", "-O2"]),
            ] + glooSettings,
            linkerSettings: torchLinker
        ),
        .target(name: "Torch", dependencies: ["CTorch"]),
        .target(
            name: "CITK",
            cxxSettings: [.unsafeFlags(["-isystem", "/usr/include/ITK-\(itkVersion)", "-O2"])],
            linkerSettings: [.unsafeFlags(["-L/usr/lib"])] + itkLibraries.map { .linkedLibrary("\($0)-\(itkVersion)") }
        ),
        .target(name: "NN", dependencies: ["Torch"]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CDeflate", pkgConfig: "libdeflate", providers: [.apt(["libdeflate-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .target(name: "Imaging", dependencies: ["Torch", "CITK", "CZlib", "CDeflate", "CCrypto"]),
        .target(name: "SuperResolution", dependencies: ["Torch", "NN", "Imaging"]),
        .target(name: "Report", dependencies: ["Imaging", "Torch", "CPNG"]),
        .executableTarget(
            name: "upres",
            dependencies: [
                "Torch", "NN", "Imaging", "SuperResolution", "Report",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Yams", package: "Yams"),
            ]
        ),
        .executableTarget(name: "UpresBench", dependencies: ["Torch", "NN", "Imaging", "SuperResolution"]),
        .testTarget(name: "TorchTests", dependencies: ["Torch"]),
        .testTarget(name: "NNTests", dependencies: ["NN"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging"]),
        .testTarget(name: "ReportTests", dependencies: ["Report"]),
        .testTarget(name: "SuperResolutionTests", dependencies: ["SuperResolution"]),
        .testTarget(name: "UpresCLITests", dependencies: ["upres", "UpresBench", "Imaging", "Torch"]),
    ],
    cxxLanguageStandard: .cxx17
)
