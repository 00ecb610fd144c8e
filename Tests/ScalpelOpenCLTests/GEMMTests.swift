import Foundation
import Scalpel
import ScalpelBenchmarks
import ScalpelCPU
import ScalpelCore
import ScalpelOpenCL
@testable import ScalpelConformance
import ScalpelTestSupport
import Testing

/// Every GEMM kernel of every available backend, each checked against the reference.
enum GEMMContenders {
    /// Names of the kernels under test: the fast Swift kernel, and each kernel family on each
    /// OpenCL device here.
    static let names: [String] = {
        var names = ["cpu fast"]
        for info in OpenCLInventory.shared.devices {
            for variant in GEMMTuning.Variant.allCases { names.append("\(info.id) \(variant.rawValue)") }
        }
        return names
    }()

    static var devices: [DeviceID: OpenCLBackend] { TensorBackends.devices }

    static let cpu = CPUBackend()

    static func contender(_ name: String) throws -> GEMMBenchmark.Contender {
        if name == "cpu fast" { return .init(name: name, backend: cpu) }
        let parts = name.split(separator: " ")
        let id = try DeviceSpec(parsing: String(parts[0]))
        guard case let .openCL(p, d) = id, let device = devices[.opencl(platform: p, device: d)] else {
            throw ScalpelError.deviceUnavailable(device: String(parts[0]), reason: "could not be opened")
        }
        return .init(name: name, backend: device, variant: GEMMTuning.Variant(rawValue: String(parts[1])))
    }
}

@Suite struct GEMMTests {
    @Test func everyOpenCLDeviceHasEveryKernelFamilyUnderTest() {
        guard openCLAvailable() else { return }
        #expect(GEMMContenders.names.count == 1 + GEMMTuning.Variant.allCases.count * OpenCLInventory.shared.devices.count)
        #expect(GEMMContenders.devices.count == OpenCLInventory.shared.devices.count, "every device opens")
    }

    @Test func theToleranceCatchesAnOffByOneError() {
        // A check that cannot fail is no check: corrupt one element slightly, and one with NaN.
        let testCase = GEMMCases.all.first { $0.parameters.m == 65 && $0.parameters.n == 65 }!
        let p = testCase.parameters
        let (a, b, c) = testCase.data()
        var good = c
        ReferenceKernels.gemm(p, a: a, b: b, c: &good)
        #expect(GEMMCheck.check(p, a: a, b: b, c0: c, result: good).passed)
        var wrong = good
        wrong[7 * p.ldc + 3] += 1e-3
        #expect(!GEMMCheck.check(p, a: a, b: b, c0: c, result: wrong).passed)
        var nan = good
        nan[0] = .nan
        #expect(!GEMMCheck.check(p, a: a, b: b, c0: c, result: nan).passed)
    }

    @Test func referenceMatchesAHandComputedProduct() {
        // [1 2 3; 4 5 6] · [7 8; 9 10; 11 12] = [58 64; 139 154]
        let a: [Float] = [1, 2, 3, 4, 5, 6], b: [Float] = [7, 8, 9, 10, 11, 12]
        var c: [Float] = [1, 1, 1, 1]
        ReferenceKernels.gemm(GEMMParameters(m: 2, n: 2, k: 3, alpha: 2, beta: -1), a: a, b: b, c: &c)
        #expect(c == [115, 127, 277, 307])
        // The same product from the transposed layouts.
        let at: [Float] = [1, 4, 2, 5, 3, 6], bt: [Float] = [7, 9, 11, 8, 10, 12]
        var d: [Float] = [.nan, .nan, .nan, .nan]
        ReferenceKernels.gemm(GEMMParameters(m: 2, n: 2, k: 3, transA: true, transB: true), a: at, b: bt, c: &d)
        #expect(d == [58, 64, 139, 154])
    }

    @Test func badShapesAreClearErrors() throws {
        let cpu = GEMMContenders.cpu
        let a = try cpu.makeBuffer(count: 6), b = try cpu.makeBuffer(count: 6), c = try cpu.makeBuffer(count: 3)
        #expect {
            try cpu.gemm(GEMMParameters(m: 2, n: 2, k: 3), a: a, b: b, c: c)
        } throws: { "\($0)".contains("C needs 4 elements, its buffer holds 3") }
        var p = GEMMParameters(m: 2, n: 2, k: 3)
        p.lda = 2
        #expect {
            try cpu.gemm(p, a: a, b: b, c: c)
        } throws: { "\($0)".contains("lda 2 < 3") }
        if let device = firstDevice {
            let foreign = try device.makeBuffer(count: 6)
            #expect {
                try cpu.gemm(GEMMParameters(m: 2, n: 1, k: 3), a: foreign, b: b, c: c)
            } throws: { "\($0)".contains("belongs to \(device.id)") }
        }
    }

    @Test func impossibleAllocationsAreOutOfMemoryErrors() throws {
        #expect {
            _ = try GEMMContenders.cpu.makeBuffer(count: Int.max / 2)
        } throws: { "\($0)".contains("out of memory on cpu") }
        guard openCLAvailable(), let device = firstDevice else { return }
        let tooMany = device.info.maxAllocationBytes / 4 + 1
        #expect {
            _ = try device.makeBuffer(count: tooMany)
        } throws: { "\($0)".contains("out of memory on \(device.id)") && "\($0)".contains("CL_DEVICE_MAX_MEM_ALLOC_SIZE") }
    }

    @Test func largeGEMMOnEveryBackendAgreesAtRandomPoints() throws {
        // Sizes past the Swift kernel's cache blocks (KC = 256, MC = 144) in every direction.
        let p = GEMMParameters(m: 300, n: 4200, k: 600, transB: true, alpha: 1.5, beta: 0.5)
        var random = SeededRandom(seed: 5)
        let a = random.uniformArray(p.requiredCountA), b = random.uniformArray(p.requiredCountB), c = random.uniformArray(p.requiredCountC)
        for name in GEMMContenders.names {
            let contender = try GEMMContenders.contender(name)
            let result = try contender.backend.gemm(p, a: a, b: b, c: c) { da, db, dc in try contender.gemm(p, da, db, dc) }
            for _ in 0 ..< 200 {
                let i = Int(random.next() % UInt64(p.m)), j = Int(random.next() % UInt64(p.n))
                var sum = 0.0, magnitude = 0.0
                for l in 0 ..< p.k {
                    let product = Double(a[i * p.lda + l]) * Double(b[j * p.ldb + l])
                    sum += product
                    magnitude += abs(product)
                }
                let want = 1.5 * sum + 0.5 * Double(c[i * p.n + j])
                let allowed = (2 * Double(p.k).squareRoot() + 8) * Double(Float.ulpOfOne) * (1.5 * magnitude + 0.5 * abs(Double(c[i * p.n + j])))
                #expect(abs(Double(result[i * p.n + j]) - want) <= allowed, "\(name) at (\(i), \(j))")
            }
        }
    }
}

@Suite struct FastGEMMThreadingTests {
    /// Two threads on a pool of their own (so they really run in parallel) through every split:
    /// wide and tall C, several column blocks (NC = 4096), a short last k block.
    @Test(arguments: [(64, 9000, 600), (900, 300, 700), (64, 288, 12544), (6000, 64, 300)])
    func twoThreadsMatchTheReference(_ shape: (Int, Int, Int)) {
        let (m, n, k) = shape
        let gemm = FastGEMM(pool: WorkerPool(size: 2))
        for (ta, tb) in [(false, false), (true, true)] {
            let p = GEMMParameters(m: m, n: n, k: k, transA: ta, transB: tb)
            var random = SeededRandom(seed: UInt64(m + n + k))
            let a = random.uniformArray(p.requiredCountA), b = random.uniformArray(p.requiredCountB)
            var c = [Float](repeating: .nan, count: p.requiredCountC)
            a.withUnsafeBufferPointer { pa in b.withUnsafeBufferPointer { pb in c.withUnsafeMutableBufferPointer { pc in
                gemm.run(p, a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!, threads: 2)
            } } }
            for _ in 0 ..< 300 {
                let i = Int(random.next() % UInt64(m)), j = Int(random.next() % UInt64(n))
                var sum = 0.0, magnitude = 0.0
                for l in 0 ..< k {
                    let x = Double(ta ? a[l * m + i] : a[i * k + l]), y = Double(tb ? b[j * k + l] : b[l * n + j])
                    sum += x * y
                    magnitude += abs(x * y)
                }
                #expect(abs(Double(c[i * n + j]) - sum) <= (2 * Double(k).squareRoot() + 8) * Double(Float.ulpOfOne) * magnitude,
                        "\(m)×\(n)×\(k) \(ta)\(tb) at (\(i), \(j))")
            }
        }
    }
}
