import Foundation
import ScalpelCore
import ScalpelNN
import ScalpelTensor
import Testing

/// One layer (or small model) PyTorch ran once, as the scripts in scripts/golden_*.py write it:
/// its state, an input, the output, a random cotangent `r`, and the gradients of
/// sum(output · r) with respect to the input and to every parameter; for batch norm, the
/// running statistics after the forward pass.
struct GoldenLayerCase: Decodable {
    var input: [Float]
    var input_shape: [Int]
    var state: [String: [Float]]
    var shapes: [String: [Int]]
    var output: [Float]
    var output_shape: [Int]
    var r: [Float]
    var input_grad: [Float]
    var grads: [String: [Float]]
    var running: [String: [Float]]?
}

/// Expects `got` within `tolerance` × max(1, largest |want|) of `want`, element by element.
func expectClose(_ got: [Float], _ want: [Float], tolerance: Float, _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(got.count == want.count, "\(what): \(got.count) values, expected \(want.count)", sourceLocation: sourceLocation)
    let scale = max(want.map(abs).max() ?? 0, 1)
    let worst = zip(got, want).map { abs($0 - $1) }.max() ?? 0
    #expect(worst <= tolerance * scale, "\(what): max error \(worst) (scale \(scale))", sourceLocation: sourceLocation)
}

/// Loads the golden state into `model` (its tensor names mapped to PyTorch's by `torchName`;
/// every PyTorch tensor must have a counterpart of the same shape), runs the input forward and
/// sum(output · r) backward on `backend`, and compares the output, the input gradient, every
/// parameter's gradient and, where the case has them, the running statistics.
func checkAgainstGolden(_ model: any Module & Layer, _ golden: GoldenLayerCase, torchName: (String) -> String, tolerance: Float,
                        _ backendName: String, on backend: any Backend) throws {
    for (name, tensor) in model.namedTensors() {
        let key = torchName(name)
        let values = try #require(golden.state[key], "\(name) → \(key)")
        #expect(golden.shapes[key] == tensor.shape, "\(name): \(tensor.shape) vs PyTorch's \(golden.shapes[key] ?? [])")
        try values.withUnsafeBufferPointer { try backend.write($0, to: tensor.storage, at: 0) }
    }
    #expect(model.namedTensors().count == golden.state.count, "every PyTorch tensor has a Scalpel counterpart")
    let x = try Tensor(golden.input, shape: golden.input_shape, on: backend, requiresGrad: true)
    let out = try model(x)
    #expect(out.shape == golden.output_shape)
    expectClose(try out.array(), golden.output, tolerance: tolerance, "\(backendName) output")
    try (out * (try Tensor(golden.r, shape: golden.output_shape, on: backend))).sum().backward()
    expectClose(try x.grad!.array(), golden.input_grad, tolerance: tolerance, "\(backendName) input gradient")
    for (name, p) in model.namedParameters() {
        expectClose(try p.grad!.array(), try #require(golden.grads[torchName(name)], "gradient of \(name)"), tolerance: tolerance,
                    "\(backendName) gradient of \(name)")
    }
    if let running = golden.running {
        for (name, t) in model.namedTensors() where name.contains("running") {
            expectClose(try t.array(), try #require(running[torchName(name)], "\(name)"), tolerance: tolerance, "\(backendName) \(name)")
        }
    }
}
