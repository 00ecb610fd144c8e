// The GEMM micro-kernel's peak on one core, per instruction set: the AVX2 6×16 register block
// Scalpel ships (ScalpelCPUKernels/PackedGEMM.swift) beside AVX-512 6×32 and 12×16 blocks, each
// run on packed panels that stay in L1/L2 (kc = 256), so that only the FMA pipes and the loads
// count. Whether AVX-512 kernels would pay on a CPU is this ratio.
//
//   swiftc -Ounchecked -target-cpu haswell        bench/microkernel_peak.swift -o /tmp/mk_avx2
//   swiftc -Ounchecked -target-cpu skylake-avx512 bench/microkernel_peak.swift -o /tmp/mk_avx512
//   /tmp/mk_avx2 6x16; /tmp/mk_avx512 6x16; /tmp/mk_avx512 6x32; /tmp/mk_avx512 12x16
import Foundation
// Micro-kernel throughput on packed panels held in cache: C tile += A panel (kc×MR) · B panel (kc×NR).
@inline(never) func k6x16(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>) {
    var c00 = SIMD8<Float>(), c01 = SIMD8<Float>(), c10 = SIMD8<Float>(), c11 = SIMD8<Float>(), c20 = SIMD8<Float>(), c21 = SIMD8<Float>()
    var c30 = SIMD8<Float>(), c31 = SIMD8<Float>(), c40 = SIMD8<Float>(), c41 = SIMD8<Float>(), c50 = SIMD8<Float>(), c51 = SIMD8<Float>()
    var ap = a; var bp = UnsafeRawPointer(b)
    for _ in 0 ..< kc {
        let b0 = bp.loadUnaligned(as: SIMD8<Float>.self), b1 = bp.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self)
        var av = SIMD8<Float>(repeating: ap[0]); c00.addProduct(av, b0); c01.addProduct(av, b1)
        av = SIMD8<Float>(repeating: ap[1]); c10.addProduct(av, b0); c11.addProduct(av, b1)
        av = SIMD8<Float>(repeating: ap[2]); c20.addProduct(av, b0); c21.addProduct(av, b1)
        av = SIMD8<Float>(repeating: ap[3]); c30.addProduct(av, b0); c31.addProduct(av, b1)
        av = SIMD8<Float>(repeating: ap[4]); c40.addProduct(av, b0); c41.addProduct(av, b1)
        av = SIMD8<Float>(repeating: ap[5]); c50.addProduct(av, b0); c51.addProduct(av, b1)
        ap += 6; bp += 64
    }
    let r = UnsafeMutableRawPointer(c)
    for (i, v) in [c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51].enumerated() { r.storeBytes(of: v + r.loadUnaligned(fromByteOffset: i * 32, as: SIMD8<Float>.self), toByteOffset: i * 32, as: SIMD8<Float>.self) }
}
@inline(never) func k6x32(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>) {
    var c00 = SIMD16<Float>(), c01 = SIMD16<Float>(), c10 = SIMD16<Float>(), c11 = SIMD16<Float>(), c20 = SIMD16<Float>(), c21 = SIMD16<Float>()
    var c30 = SIMD16<Float>(), c31 = SIMD16<Float>(), c40 = SIMD16<Float>(), c41 = SIMD16<Float>(), c50 = SIMD16<Float>(), c51 = SIMD16<Float>()
    var ap = a; var bp = UnsafeRawPointer(b)
    for _ in 0 ..< kc {
        let b0 = bp.loadUnaligned(as: SIMD16<Float>.self), b1 = bp.loadUnaligned(fromByteOffset: 64, as: SIMD16<Float>.self)
        var av = SIMD16<Float>(repeating: ap[0]); c00.addProduct(av, b0); c01.addProduct(av, b1)
        av = SIMD16<Float>(repeating: ap[1]); c10.addProduct(av, b0); c11.addProduct(av, b1)
        av = SIMD16<Float>(repeating: ap[2]); c20.addProduct(av, b0); c21.addProduct(av, b1)
        av = SIMD16<Float>(repeating: ap[3]); c30.addProduct(av, b0); c31.addProduct(av, b1)
        av = SIMD16<Float>(repeating: ap[4]); c40.addProduct(av, b0); c41.addProduct(av, b1)
        av = SIMD16<Float>(repeating: ap[5]); c50.addProduct(av, b0); c51.addProduct(av, b1)
        ap += 6; bp += 128
    }
    let r = UnsafeMutableRawPointer(c)
    for (i, v) in [c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51].enumerated() { r.storeBytes(of: v + r.loadUnaligned(fromByteOffset: i * 64, as: SIMD16<Float>.self), toByteOffset: i * 64, as: SIMD16<Float>.self) }
}
@inline(never) func k12x16(_ kc: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>) {
    var acc = (SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(),
               SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>())
    var ap = a; var bp = UnsafeRawPointer(b)
    for _ in 0 ..< kc {
        let b0 = bp.loadUnaligned(as: SIMD16<Float>.self)
        acc.0.addProduct(SIMD16(repeating: ap[0]), b0); acc.1.addProduct(SIMD16(repeating: ap[1]), b0)
        acc.2.addProduct(SIMD16(repeating: ap[2]), b0); acc.3.addProduct(SIMD16(repeating: ap[3]), b0)
        acc.4.addProduct(SIMD16(repeating: ap[4]), b0); acc.5.addProduct(SIMD16(repeating: ap[5]), b0)
        acc.6.addProduct(SIMD16(repeating: ap[6]), b0); acc.7.addProduct(SIMD16(repeating: ap[7]), b0)
        acc.8.addProduct(SIMD16(repeating: ap[8]), b0); acc.9.addProduct(SIMD16(repeating: ap[9]), b0)
        acc.10.addProduct(SIMD16(repeating: ap[10]), b0); acc.11.addProduct(SIMD16(repeating: ap[11]), b0)
        ap += 12; bp += 64
    }
    let r = UnsafeMutableRawPointer(c)
    for (i, v) in [acc.0, acc.1, acc.2, acc.3, acc.4, acc.5, acc.6, acc.7, acc.8, acc.9, acc.10, acc.11].enumerated() { r.storeBytes(of: v + r.loadUnaligned(fromByteOffset: i * 64, as: SIMD16<Float>.self), toByteOffset: i * 64, as: SIMD16<Float>.self) }
}
let kc = 256
let a = UnsafeMutablePointer<Float>.allocate(capacity: kc * 12); a.initialize(repeating: 0.001, count: kc * 12)
let b = UnsafeMutablePointer<Float>.allocate(capacity: kc * 32); b.initialize(repeating: 0.002, count: kc * 32)
let c = UnsafeMutablePointer<Float>.allocate(capacity: 12 * 32); c.initialize(repeating: 0, count: 12 * 32)
let which = CommandLine.arguments[1]
let calls = 400_000
let (mr, nr): (Int, Int) = which == "6x16" ? (6, 16) : which == "6x32" ? (6, 32) : (12, 16)
var best = Double.infinity
for _ in 0 ..< 5 {
    let t0 = DispatchTime.now().uptimeNanoseconds
    for _ in 0 ..< calls {
        switch which { case "6x16": k6x16(kc, a, b, c); case "6x32": k6x32(kc, a, b, c); default: k12x16(kc, a, b, c) }
    }
    best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
}
print(which, String(format: "%.1f GFLOP/s (one core, panels in L1/L2)", 2.0 * Double(mr * nr * kc) * Double(calls) / best / 1e9), c[0])
