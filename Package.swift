// swift-tools-version:6.0
import PackageDescription

// The server is single-threaded by design (one event loop owns the keyspace), with a small
// thread pool reached only through explicit queues, so the targets use Swift 5 language mode:
// strict-concurrency checking would add ceremony without adding safety to that model.
let package = Package(
    name: "Needletail",
    products: [
        .executable(name: "needletail-server", targets: ["needletail-server"]),
        .library(name: "Needletail", targets: ["Needletail"]),
    ],
    targets: [
        .target(name: "CSystem", path: "Sources/CSystem"),
        // Scripting (Sources/Needletail/Scripting): Lua 5.1 with cjson and bit from Debian, and the C side of
        // the script environment (sandbox, calls back into the server, cmsgpack, struct) in CScripting.
        .systemLibrary(name: "CLua", path: "Sources/CLua", pkgConfig: "lua5.1",
                       providers: [.apt(["liblua5.1-0-dev", "lua-cjson-dev", "lua-bitop-dev"])]),
        .target(name: "CScripting", dependencies: ["CLua"], path: "Sources/CScripting",
                linkerSettings: [.linkedLibrary("lua5.1"), .linkedLibrary("lua5.1-cjson"), .linkedLibrary("lua5.1-bitop")]),
        // TLS (tls-port, tls-replication): Debian's OpenSSL, behind CTLS's small non-blocking API (Net/TLS.swift).
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL", pkgConfig: "openssl",
                       providers: [.apt(["libssl-dev"])]),
        .target(name: "CTLS", dependencies: ["COpenSSL"], path: "Sources/CTLS",
                linkerSettings: [.linkedLibrary("ssl"), .linkedLibrary("crypto")]),
        .target(
            name: "Needletail",
            dependencies: ["CSystem", "CLua", "CScripting", "CTLS"],
            path: "Sources/Needletail",
            // Debug builds (what the tests build and run, the differential test included) check the keyspace's
            // structures after every write command (Server.checkKeyspaceInvariants); release builds do not.
            swiftSettings: [.define("NEEDLETAIL_INVARIANTS", .when(configuration: .debug))]
        ),
        .executableTarget(name: "needletail-server", dependencies: ["Needletail", "CAllocator"], path: "Sources/needletail-server"),
        // The server's allocation counter (used_memory, maxmemory): interposes malloc, so only the executable
        // links it (the test processes keep glibc's malloc; see its header).
        .target(name: "CAllocator", dependencies: ["CSystem"], path: "Sources/CAllocator"),
        // The seeded random generator shared by both test targets.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(
            name: "NeedletailTests",
            dependencies: ["Needletail", "TestSupport"],
            path: "Tests/NeedletailTests"
        ),
        .systemLibrary(name: "CHiredis", path: "IntegrationTests/CHiredis", pkgConfig: "hiredis",
                       providers: [.apt(["libhiredis-dev"])]),
        // Counts heap allocations in the test process (AllocationTests); see its header.
        .target(name: "CMallocCounter", path: "IntegrationTests/CMallocCounter"),
        .testTarget(name: "IntegrationTests", dependencies: ["CHiredis", "CMallocCounter", "Needletail", "TestSupport"],
                    path: "IntegrationTests/Tests"),
    ],
    swiftLanguageModes: [.v5]
)
