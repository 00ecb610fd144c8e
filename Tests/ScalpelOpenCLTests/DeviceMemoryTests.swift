import COpenCL
import Foundation
import ScalpelCPU
import ScalpelCore
@testable import ScalpelOpenCL
import ScalpelTestSupport
import Testing

/// Device memory: the OpenCL allocator's pool (freed memory lent again, no allocation after a
/// training step's first) and views of a buffer on every backend.
struct DeviceMemoryTests {
    @Test func sizeClassesWasteAtMostAnEighth() {
        var previous = 0
        for bytes in [1, 4, 255, 256, 257, 1000, 1024, 1025, 4096, 4097, 70_000, 1 << 20, (1 << 20) + 1, 58 << 20, 3_000_000_001] {
            let size = OpenCLAllocator.sizeClass(bytes: bytes)
            #expect(size >= bytes && size >= 256)
            #expect(size >= previous, "classes grow with the size")
            if bytes > 2048 { #expect(Double(size) <= Double(bytes) * 1.125, "\(bytes) B → \(size) B") }
            previous = size
        }
        #expect(OpenCLAllocator.sizeClass(bytes: 1000) == OpenCLAllocator.sizeClass(bytes: 1010), "near sizes share a class")
    }

    @Test func aFreedBufferIsLentAgainWithoutAllocating() throws {
        guard openCLAvailable(), let info = OpenCLInventory.shared.devices.first else { return }
        let backend = try OpenCLBackend(info)
        let held = backend.allocatedBytes
        var first: (any DeviceBuffer)? = try backend.makeBuffer(count: 1000)
        let mem = try #require(first as? CLBuffer).mem
        #expect(backend.allocatedBytes == held + 4000)
        first = nil
        #expect(backend.allocatedBytes == held, "the ledger counts live buffers only")
        #expect(backend.pooledBytes >= 4000)
        // The same size class (1010 floats) gets the same memory object back.
        let second = try #require(try backend.makeBuffer(count: 1010) as? CLBuffer)
        #expect(second.mem == mem)
        #expect(backend.pooledBytes == 0)
        // The reused memory works like new: fill, read back.
        try backend.fill(second, value: 2.5, offset: 0, count: 1010)
        #expect(try backend.read(second).allSatisfy { $0 == 2.5 } && second.count == 1010)
        _ = first
    }

    @Test func viewsShareMemoryWithTheirBufferOnEveryBackend() throws {
        var backends: [any Backend] = [CPUBackend(), CPUBackend(kernels: .reference)]
        if openCLAvailable(), let info = OpenCLInventory.shared.devices.first { backends.append(try OpenCLBackend(info)) }
        for backend in backends {
            let align = backend.viewAlignment
            #expect(align >= 1)
            let flat = try backend.makeBuffer([Float](repeating: 0, count: 3 * align + 5))
            let a = try backend.makeView(of: flat, offset: 0, count: align)
            let b = try backend.makeView(of: flat, offset: 2 * align, count: align + 5)
            try backend.fill(a, value: 1, offset: 0, count: a.count)
            try backend.fill(b, value: 2, offset: 0, count: b.count)
            // A view of a view lands at the sum of the offsets.
            let inner = try backend.makeView(of: b, offset: 0, count: 3)
            try [Float]([7, 8, 9]).withUnsafeBufferPointer { try backend.write($0, to: inner, at: 0) }
            var expected = [Float](repeating: 0, count: flat.count)
            for i in 0 ..< align { expected[i] = 1 }
            for i in 2 * align ..< flat.count { expected[i] = 2 }
            expected[2 * align ..< 2 * align + 3] = [7, 8, 9]
            #expect(try backend.read(flat) == expected, "\(backend.id)")
            #expect(try backend.read(b).prefix(4) == [7, 8, 9, 2])
            #expect(throws: ScalpelError.self) { _ = try backend.makeView(of: flat, offset: 3 * align, count: 6) }
            if align > 1 {
                #expect(throws: ScalpelError.self, "an offset off the device's alignment is refused, not left to the driver") {
                    _ = try backend.makeView(of: flat, offset: 1, count: 1)
                }
            }
        }
    }
}
