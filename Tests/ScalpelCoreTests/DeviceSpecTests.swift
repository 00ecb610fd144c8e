import ScalpelCore
import Testing

@Suite struct DeviceSpecTests {
    @Test(arguments: [("auto", DeviceSpec.auto), ("cpu", .cpu), ("cl", .bestOpenCL), (" CL:1:2 ", .openCL(platform: 1, device: 2)),
                      ("cl:0:0", .openCL(platform: 0, device: 0))])
    func parsesValidValues(_ text: String, _ expected: DeviceSpec) throws {
        #expect(try DeviceSpec(parsing: text) == expected)
    }

    @Test(arguments: ["gpu", "", "cl:0", "cl:a:b", "cl:-1:0", "cuda:0:0", "cl:0:0:0"])
    func rejectsInvalidValuesListingTheValidOnes(_ text: String) {
        #expect {
            try DeviceSpec(parsing: text)
        } throws: { error in
            let message = "\(error)"
            return message.contains("invalid device '\(text)'") && message.contains("auto, cpu, cl, cl:P:D")
        }
    }

    @Test func optionWinsOverEnvironmentWhichWinsOverDefault() throws {
        #expect(try DeviceSpec.resolve(option: "cpu", environment: ["SCALPEL_DEVICE": "cl"]) == .cpu)
        #expect(try DeviceSpec.resolve(option: nil, environment: ["SCALPEL_DEVICE": "cl:0:1"]) == .openCL(platform: 0, device: 1))
        #expect(try DeviceSpec.resolve(option: nil, environment: [:]) == .auto)
        #expect(throws: ScalpelError.self) { try DeviceSpec.resolve(option: nil, environment: ["SCALPEL_DEVICE": "bogus"]) }
    }

    @Test func deviceIDsRoundTripThroughJSON() throws {
        let ids: [DeviceID] = [.cpu, .opencl(platform: 2, device: 3)]
        let data = try JSONEncoder().encode(ids)
        #expect(String(decoding: data, as: UTF8.self) == #"["cpu","cl:2:3"]"#)
        #expect(try JSONDecoder().decode([DeviceID].self, from: data) == ids)
    }
}

import Foundation
