import COpenCL
import Foundation
import ScalpelCore

// Convolution pieces and pooling (conv.cl).
extension OpenCLBackend {
    static func convGeometry(_ g: Conv2dGeometry) -> [KernelArgument] {
        [int8([g.batch, g.inChannels, g.height, g.width, g.outChannels, g.kernelHeight, g.kernelWidth, g.groups]),
         int8([g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW, g.outHeight, g.outWidth])]
    }

    private static func poolGeometry(_ g: Pool2dGeometry, max: Bool) -> [KernelArgument] {
        [int8([g.batch * g.channels, g.height, g.width, g.kernelHeight, g.kernelWidth, g.strideH, g.strideW, 0]),
         int8([g.padH, g.padW, g.outHeight, g.outWidth, max ? 1 : 0, 0, 0, 0])]
    }

    public func im2col(_ geometry: Conv2dGeometry, input: any DeviceBuffer, offset: Int, columns: any DeviceBuffer) throws {
        try geometry.validate()
        let g = geometry, total = g.columnRows * g.columnCount
        try launch("im2col", file: "conv.cl", operands: [(input, offset + g.batch * g.inChannels * g.height * g.width), (columns, total)]) { program, b in
            try run1D(program, "im2col", [.buffer(b[0].mem), .long(Int64(offset)), .buffer(b[1].mem)] + Self.convGeometry(g), count: total)
        } fallback: { cpu, b in try cpu.im2col(g, input: b[0], offset: offset, columns: b[1]) }
    }

    public func col2im(_ geometry: Conv2dGeometry, columns: any DeviceBuffer, gradInput: any DeviceBuffer, offset: Int) throws {
        try geometry.validate()
        let g = geometry, total = g.batch * g.inChannels * g.height * g.width
        try launch("col2im", file: "conv.cl", operands: [(columns, g.columnRows * g.columnCount), (gradInput, offset + total)]) { program, b in
            try run1D(program, "col2im", [.buffer(b[0].mem), .buffer(b[1].mem), .long(Int64(offset))] + Self.convGeometry(g), count: total)
        } fallback: { cpu, b in try cpu.col2im(g, columns: b[0], gradInput: b[1], offset: offset) }
    }

    public func pool2d(_ geometry: Pool2dGeometry, max: Bool, input: any DeviceBuffer, output: any DeviceBuffer) throws {
        try geometry.validate()
        let g = geometry, outCount = g.batch * g.channels * g.outHeight * g.outWidth
        try launch("pool2d", file: "conv.cl", operands: [(input, g.batch * g.channels * g.height * g.width), (output, outCount)]) { program, b in
            try run1D(program, "pool2d", [.buffer(b[0].mem), .buffer(b[1].mem)] + Self.poolGeometry(g, max: max), count: outCount)
        } fallback: { cpu, b in try cpu.pool2d(g, max: max, input: b[0], output: b[1]) }
    }

    public func pool2dBackward(_ geometry: Pool2dGeometry, max: Bool, input: any DeviceBuffer, output: any DeviceBuffer,
                               gradOutput: any DeviceBuffer, gradInput: any DeviceBuffer) throws {
        try geometry.validate()
        let g = geometry
        let inCount = g.batch * g.channels * g.height * g.width, outCount = g.batch * g.channels * g.outHeight * g.outWidth
        try launch("pool2d backward", file: "conv.cl", operands: [(input, inCount), (output, outCount), (gradOutput, outCount), (gradInput, inCount)]) { program, b in
            try run1D(program, "pool2d_backward", [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem), .buffer(b[3].mem)]
                + Self.poolGeometry(g, max: max), count: inCount)
        } fallback: { cpu, b in try cpu.pool2dBackward(g, max: max, input: b[0], output: b[1], gradOutput: b[2], gradInput: b[3]) }
    }
}

extension OpenCLBackend {
    public func conv2dDirect(_ geometry: Conv2dGeometry, input: any DeviceBuffer, weight: any DeviceBuffer, output: any DeviceBuffer) throws {
        try geometry.validate()
        let g = geometry, total = g.batch * g.outChannels * g.outHeight * g.outWidth
        try launch("conv2d direct", file: "conv.cl", operands: [(input, g.batch * g.inChannels * g.height * g.width),
                                                               (weight, g.outChannels * g.inChannels / g.groups * g.kernelHeight * g.kernelWidth),
                                                               (output, total)]) { program, b in
            try run1D(program, "conv2d_direct", [.buffer(b[0].mem), .buffer(b[1].mem), .buffer(b[2].mem)] + Self.convGeometry(g), count: total)
        } fallback: { cpu, b in try cpu.conv2dDirect(g, input: b[0], weight: b[1], output: b[2]) }
    }
}
