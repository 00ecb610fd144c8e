import Foundation
import ScalpelCPU
import ScalpelCore
import ScalpelNN
import ScalpelTensor
import ScalpelTestSupport
import Testing

/// Operations the Backend protocol composes from primitives by default (`ComposedOps.swift`):
/// the composition computes the function and its gradient, on the CPU-Swift backend and on
/// an OpenCL device alike. (The conformance cases compare every backend with the float64
/// reference; these check the formulas themselves.)
struct ComposedOpTests {
    @Test func siluIsXTimesSigmoidWithItsGradient() throws {
        for backend in [CPUBackend() as any Backend] + (firstDevice.map { [$0 as any Backend] } ?? []) {
            let values: [Float] = stride(from: -6, through: 6, by: 0.25).map { Float($0) }
            let x = try Tensor(values, shape: [values.count], on: backend, requiresGrad: true)
            let y = try SiLU()(x)
            try y.sum().backward()
            let (output, gradient) = (try y.array(), try #require(x.grad).array())
            for (i, v) in values.enumerated() {
                let s = 1 / (1 + Foundation.exp(-Double(v)))
                #expect(Swift.abs(Double(output[i]) - Double(v) * s) < 1e-5, "silu(\(v)) on \(backend.id)")
                #expect(Swift.abs(Double(gradient[i]) - s * (1 + Double(v) * (1 - s))) < 1e-5, "silu′(\(v)) on \(backend.id)")
            }
        }
    }
}
