// Valid inputs for every format, generated in code: small, but each covering what its reader
// handles, so that mutations start from files that reach deep into the parsers.
import Foundation
import ScalpelIO

/// The file formats the fuzzer knows, in the order `--format all` runs them.
enum Format: String, CaseIterable, Sendable {
    case safetensors, npy, npz, csv, ucr
}

enum Seeds {
    /// The generated seeds of `format`.
    static func generated(_ format: Format) -> [[UInt8]] {
        switch format {
        case .safetensors: safetensors()
        case .npy: npy()
        case .npz: cachedNPZSpecs.map(\.bytes)
        case .csv: csv().map { Array($0.utf8) }
        case .ucr: ucr().map { Array($0.utf8) }
        }
    }

    // MARK: safetensors

    static func safetensors() -> [[UInt8]] {
        let tensors: [String: SafeTensor] = [
            "encoder.weight": SafeTensor(shape: [2, 3], floats: [1, -2, 3.5, 0, .infinity, -0.25]),
            "encoder.bias": SafeTensor(shape: [3], floats: [0.1, 0.2, 0.3]),
            "step": SafeTensor(shape: [], int64s: [42]),
            "labels": SafeTensor(shape: [4], int64s: [0, 1, 1, -1]),
            "counts": SafeTensor(shape: [1, 2], int32s: [7, 8]),
            "moments": SafeTensor(shape: [2], doubles: [1e-300, 2]),
            "image": SafeTensor(dtype: .u8, shape: [2, 2, 2], bytes: Data([0, 1, 127, 128, 200, 255, 3, 4])),
            "mask": SafeTensor(dtype: .bool, shape: [3], bytes: Data([1, 0, 1])),
            "half": SafeTensor(dtype: .f16, shape: [2], bytes: Data([0x00, 0x3C, 0x00, 0xC0])),
            "brain": SafeTensor(dtype: .bf16, shape: [2], bytes: Data([0x80, 0x3F, 0x00, 0x40])),
            "wide": SafeTensor(dtype: .u64, shape: [1], bytes: Data([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])),
            "empty": SafeTensor(dtype: .f32, shape: [0, 4], bytes: Data()),
        ]
        var files: [[UInt8]] = []
        func add(_ file: SafeTensorsFile) {
            if let data = try? file.serialized() { files.append([UInt8](data)) }
        }
        add(SafeTensorsFile(tensors: tensors, metadata: ["format": "pt", "epoch": "3", "note": "quote \" and \\ and \u{e9}"]))
        add(SafeTensorsFile(tensors: tensors))
        add(SafeTensorsFile(tensors: ["w": SafeTensor(shape: [2, 2], floats: [1, 2, 3, 4])], metadata: ["format": "pt"]))
        add(SafeTensorsFile(tensors: ["a": tensors["labels"]!, "b": tensors["image"]!, "c": tensors["half"]!]))
        add(SafeTensorsFile(tensors: [:], metadata: ["only": "metadata"]))
        // Hand-written headers: unusual order, whitespace, escapes, null metadata, an ignored field.
        files.append(rawSafetensors(
            #"{"b":{"dtype":"I32","shape":[1],"data_offsets":[4,8]}, "a":{"shape":[1],"dtype":"F32","data_offsets":[0,4],"extra":[1,{"x":null}]},"__metadata__":null}"#,
            buffer: [0, 0, 0x80, 0x3F, 1, 0, 0, 0]))
        files.append(rawSafetensors(
            "{\n  \"\\u00e9t\\u00e9\" : { \"dtype\" : \"U16\" , \"shape\" : [ 2 ] , \"data_offsets\" : [ 0 , 4 ] } ,"
                + " \"z\": {\"dtype\":\"I8\",\"shape\":[0],\"data_offsets\":[4,4]}, \"__metadata__\": {\"k\\n\": \"v\\ud83d\\ude00\"}\n}",
            buffer: [1, 0, 2, 0]))
        files.append(rawSafetensors("{}", buffer: []))
        return files
    }

    /// A safetensors file with `header` verbatim, padded with spaces to 8 bytes.
    static func rawSafetensors(_ header: String, buffer: [UInt8]) -> [UInt8] {
        var text = Array(header.utf8)
        while text.count % 8 != 0 { text.append(0x20) }
        return le64(UInt64(text.count)) + text + buffer
    }

    // MARK: npy

    static func npy() -> [[UInt8]] {
        var files: [[UInt8]] = []
        // A uint8 image stack and int64 labels, as MedMNIST stores them.
        files.append(npyFile(descr: "|u1", shape: [3, 4, 4], data: (0..<48).map { UInt8($0 * 5 % 256) }))
        files.append(npyFile(descr: "<i8", shape: [5, 1], data: littleEndian([Int64](arrayLiteral: 0, 1, 2, 1, 0))))
        files.append(npyFile(descr: "|u1", shape: [2, 2, 2, 3], data: (0..<24).map { UInt8($0 * 11 % 256) }))
        files.append(npyFile(descr: "<f4", shape: [2, 3], data: littleEndian([Float](arrayLiteral: 0, 0.5, 1, -1, .nan, 1e30).map(\.bitPattern))))
        files.append(npyFile(descr: "<f8", shape: [3], data: littleEndian([Double](arrayLiteral: -1e300, 0, 9.5e18).map(\.bitPattern))))
        files.append(npyFile(descr: "<i4", shape: [2, 2], data: littleEndian([Int32](arrayLiteral: .min, -1, 0, .max))))
        files.append(npyFile(descr: "<u2", shape: [3], data: littleEndian([UInt16](arrayLiteral: 0, 256, .max))))
        files.append(npyFile(descr: "<i2", shape: [1, 1, 2], data: littleEndian([Int16](arrayLiteral: -300, 300))))
        files.append(npyFile(descr: "<u4", shape: [2], data: littleEndian([UInt32](arrayLiteral: 7, .max))))
        files.append(npyFile(descr: "<u8", shape: [2], data: littleEndian([UInt64](arrayLiteral: 1, .max))))
        files.append(npyFile(descr: "|i1", shape: [4], data: [0x80, 0xFF, 0, 0x7F]))
        files.append(npyFile(descr: "|b1", shape: [2, 2], data: [1, 0, 0, 1]))
        files.append(npyFile(descr: "<f8", shape: [], data: littleEndian([Double(2.5).bitPattern])))
        files.append(npyFile(descr: "<i4", shape: [0, 3], data: []))
        // Versions 2.0 and 3.0, double quotes, and a Python 2 header with L suffixes.
        files.append(npyFile(descr: "<f4", shape: [2], data: littleEndian([Float](arrayLiteral: 1, 2).map(\.bitPattern)), version: 2))
        files.append(npyFile(descr: "|u1", shape: [1, 3], data: [9, 8, 7], version: 3, quote: "\""))
        files.append(npyFile(header: "{'descr':'<i8','fortran_order':False,'shape':(2L, 1L)}",
                             data: littleEndian([Int64](arrayLiteral: 3, 4))))
        return files
    }

    // MARK: npz

    /// A MedMNIST-like split: uint8 images and (N, 1) labels.
    static func medMNISTMembers(counts: [Int] = [4, 2, 2], height: Int = 3, width: Int = 3, rgb: Bool = false,
                                labelDescr: String = "<i8", floatImages: Bool = false) -> [ZipSpec.Member] {
        var members: [ZipSpec.Member] = []
        for (prefix, count) in zip(["train", "val", "test"], counts) {
            let channels = rgb ? 3 : 1
            let shape = rgb ? [count, height, width, 3] : [count, height, width]
            let pixels = count * height * width * channels
            let images = floatImages
                ? npyFile(descr: "<f4", shape: shape, data: littleEndian((0..<pixels).map { Float($0 % 7) / 6 }.map(\.bitPattern)))
                : npyFile(descr: "|u1", shape: shape, data: (0..<pixels).map { UInt8(($0 * 37 + count) % 256) })
            let labelValues = (0..<count).map { Int64($0 % 3) }
            let labels: [UInt8] = switch labelDescr {
            case "|u1": npyFile(descr: "|u1", shape: [count, 1], data: labelValues.map { UInt8($0) })
            case "<i4": npyFile(descr: "<i4", shape: [count, 1], data: littleEndian(labelValues.map { Int32($0) }))
            default: npyFile(descr: "<i8", shape: [count, 1], data: littleEndian(labelValues))
            }
            members.append(.init(name: "\(prefix)_images.npy", bytes: images))
            members.append(.init(name: "\(prefix)_labels.npy", bytes: labels))
        }
        return members
    }

    /// The archives behind the npz seeds, built once.
    static let cachedNPZSpecs = npzSpecs()

    static func npzSpecs() -> [ZipSpec] {
        var specs: [ZipSpec] = []
        // numpy.savez: stored members with ZIP64 local headers.
        specs.append(ZipSpec(members: medMNISTMembers(), zip64LocalHeaders: true))
        // numpy.savez_compressed, RGB: deflated members.
        specs.append(ZipSpec(members: medMNISTMembers(rgb: true, labelDescr: "|u1").map { member in
            var member = member
            member.method = .deflateFixed
            return member
        }, zip64LocalHeaders: true))
        // Plain zip, float images, int32 labels.
        specs.append(ZipSpec(members: medMNISTMembers(counts: [3, 2, 2], height: 2, width: 4, labelDescr: "<i4", floatImages: true)))
        // Stored deflate blocks and data descriptors.
        specs.append(ZipSpec(members: medMNISTMembers(counts: [2, 2, 2], height: 2, width: 2).enumerated().map { index, member in
            var member = member
            member.method = index % 2 == 0 ? .deflateStoredBlocks(blockSize: 50) : .stored
            return member
        }, dataDescriptors: true))
        // A ZIP64 central directory and end record, and an archive comment.
        specs.append(ZipSpec(members: medMNISTMembers(counts: [2, 1, 1]), zip64Directory: true, zip64End: true,
                             comment: Array("fuzz".utf8)))
        // Members that are not arrays, or not the loader's, around the six it reads.
        specs.append(ZipSpec(members: [.init(name: "x.npy", bytes: npyFile(descr: "<f8", shape: [2], data: [UInt8](repeating: 0, count: 16))),
                                       .init(name: "dir/", bytes: []),
                                       .init(name: "notes.txt", bytes: Array("not an array".utf8))]
                                + medMNISTMembers(counts: [2, 2, 2], height: 1, width: 5, labelDescr: "|u1")
                                + [.init(name: "y.npy", bytes: npyFile(descr: "|b1", shape: [1], data: [1]), method: .deflateFixed)]))
        return specs
    }

    // MARK: csv

    static func csv() -> [String] {
        [
            "id,age,sex,\"blood pressure\",diagnosis\n1,63,M,145.5,malignant\n2,,F,130,benign\n3,41,F,NA,benign\n4,58,\"M\",?,malignant\n",
            "name,notes,score\r\n\"Smith, J\",\"said \"\"hello\"\"\r\nthen left\",1e3\r\n\"\",plain,-0.5\r\n",
            "\u{FEFF}a,b\n1,2\n\n\n",
            "x\n1\n2\n3",
            "patient,grade,stage,outcome\np1,low,I,0\np2,high,III,1\np3,,II,0\np4,medium,IV,1\n",
            "q,\"r\",\"s\"\"\"\n\"\",\"\",\n,,\n",
            "col\u{e9},colonne \u{1F600}\n\u{e9}t\u{e9},nan\ninf,-inf\n",
        ]
    }

    // MARK: ucr

    static func ucr() -> [String] {
        [
            "1\t0.1\t0.2\t0.3\t0.4\n2\t-1.5\t2.5\tNaN\tNaN\n1\t3e2\t1\t2\tNaN\n2\t0\t0\t0\t0\n",
            "-1,1.0,2.0,3.0\n1,4.0,5.0,6.0\r\n-1, 7.5 , 8 ,NaN\r\n",
            "  1.0000000e+00   2.5   3.5  \n  2.0000000e+00  -1.0  NaN  \n",
            "\u{FEFF}normal\t1\t2\nabnormal\t3\t4\n\n",
            "a,1,nan\nb,2,3\nc,4,NaN\n",
            "0\t1\r1\t2\r0\t3\r",
        ]
    }
}
