// swift-tools-version: 6.1
// Programs that use Scalpel as a library, as your own package would: each depends on the
// `Scalpel` product by path. Build and run one with
//   swift run --package-path Examples CustomCNN
// CI runs each on a few batches (scripts/examples.sh); every one checks its own result.
import PackageDescription

let package = Package(
    name: "ScalpelExamples",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "Scalpel", path: "..")],
    targets: [
        // A CNN defined in Swift, trained on the bundled BreastMNIST with the library's Trainer.
        .executableTarget(name: "CustomCNN", dependencies: [.product(name: "Scalpel", package: "Scalpel")]),
        // A hand-written training loop (forward, loss, backward, step) on the WDBC table.
        .executableTarget(name: "TrainingLoop", dependencies: [.product(name: "Scalpel", package: "Scalpel")]),
        // A saved model fine-tuned with its first layers frozen.
        .executableTarget(name: "FineTuning", dependencies: [.product(name: "Scalpel", package: "Scalpel")]),
    ],
    swiftLanguageModes: [.v6]
)
