import COpenCL
import Foundation
import ScalpelCore

/// The fused optimizer updates on an OpenCL device (optim.cl).
extension OpenCLBackend {
    /// Enqueues optim.cl's sgd_step or adam_step over `count` elements in one launch (Adam's bias
    /// corrections formed on the host in Double); every buffer, state2 included even for SGD, must
    /// hold `count` values (else `shapeMismatch`). When optim.cl does not build, runs the CPU-Swift
    /// backend's `optimizerStep` on copies of the operands.
    public func optimizerStep(_ step: OptimizerStep, parameter: any DeviceBuffer, gradient: any DeviceBuffer,
                              state1: any DeviceBuffer, state2: any DeviceBuffer, count: Int) throws {
        guard count > 0 else { return }
        try launch("optimizer", file: "optim.cl", operands: [(parameter, count), (gradient, count), (state1, count), (state2, count)]) { program, b in
            switch step.kind {
            case .sgd:
                try run1D(program, "sgd_step", [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .long(Int64(count)), .float(step.learningRate),
                                                .float(step.beta1), .float(step.dampening), .float(step.weightDecay), .int(step.nesterov ? 1 : 0),
                                                .int(step.step <= 1 ? 1 : 0)], count: count)
            case .adam:
                let correction1 = 1 - pow(Double(step.beta1), Double(step.step)), correction2 = 1 - pow(Double(step.beta2), Double(step.step))
                try run1D(program, "adam_step", [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .buffer(b[3].mem), .long(Int64(count)),
                                                 .float(step.learningRate), .float(step.beta1), .float(step.beta2), .float(step.epsilon),
                                                 .float(step.weightDecay), .int(step.decoupledWeightDecay ? 1 : 0),
                                                 .float(Float(Double(step.learningRate) / correction1)), .float(Float(correction2.squareRoot()))],
                          count: count)
            }
        } fallback: { cpu, b in try cpu.optimizerStep(step, parameter: b[0], gradient: b[1], state1: b[2], state2: b[3], count: count) }
    }

    /// The squared norm of packed tensors: one reduction over the segments' whole span (the
    /// padding between them is zero), not one per tensor.
    public func sumOfSquares(_ x: any DeviceBuffer, segments: [Range<Int>], out: any DeviceBuffer) throws {
        guard let first = segments.first?.lowerBound, let end = segments.last?.upperBound, end > first else {
            return try fill(out, value: 0, offset: 0, count: 1)
        }
        guard first % viewAlignment == 0 else {
            throw ScalpelError.invalidArgument("sumOfSquares: the first segment starts at \(first), not at a multiple of \(viewAlignment) elements")
        }
        let span = first == 0 ? x : try makeView(of: x, offset: first, count: end - first)
        try reduce(.sumOfSquares, x: span, out: out, outer: 1, axis: end - first, inner: 1)
    }
}
