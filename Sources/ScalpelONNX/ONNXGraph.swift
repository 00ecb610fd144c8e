import Foundation
import SwiftProtobuf

/// An ONNX graph under construction: float inputs with a symbolic batch dimension, constants
/// (initializers), operator nodes and named outputs, serialised to an ONNX model file by
/// `serializedModel(metadata:producer:version:)`. Every value gets a fresh name, so layers add
/// their nodes without knowing each other.
///
/// Written with swift-protobuf's types generated from ONNX's own `onnx.proto`
/// (`scripts/generate_onnx_proto.sh`), at one operator-set version, `opset`.
public struct ONNXGraph {
    /// The ONNX operator-set version the graph's nodes follow: 17, the first with
    /// LayerNormalization, read by every current runtime (ONNX Runtime, OpenVINO, TensorRT).
    public static let opset: Int64 = 17
    /// The ONNX IR version of the file (8: the one that goes with opset 17).
    public static let irVersion: Int64 = 8

    /// An attribute of a node.
    public enum Attribute {
        /// An integer.
        case int(Int)
        /// A list of integers.
        case ints([Int])
        /// A real number.
        case float(Float)
        /// Text.
        case string(String)
    }

    private var graph = Onnx_GraphProto()
    private var counter = 0

    /// An empty graph called `name`.
    public init(name: String) { graph.name = name }

    /// A fresh value name starting with `hint`.
    private mutating func fresh(_ hint: String) -> String {
        counter += 1
        return "\(hint)_\(counter)"
    }

    /// Declares a float32 input `name` of `shape`, whose first dimension is the symbolic batch size
    /// `N` (the rest fixed), and returns its name.
    public mutating func input(_ name: String, sampleShape: [Int], doc: String) -> String {
        graph.input.append(Self.valueInfo(name, elementType: .float, dimensions: ["N"] + sampleShape.map(String.init), doc: doc))
        return name
    }

    /// Declares `value` an output of the graph named `name` (an Identity node renames it), with a
    /// symbolic batch dimension followed by `sampleShape`.
    public mutating func output(_ value: String, as name: String, sampleShape: [Int], doc: String) {
        var node = Onnx_NodeProto()
        node.opType = "Identity"
        node.input = [value]
        node.output = [name]
        node.name = "output_\(name)"
        graph.node.append(node)
        graph.output.append(Self.valueInfo(name, elementType: .float, dimensions: ["N"] + sampleShape.map(String.init), doc: doc))
    }

    /// A float32 constant of `shape` holding `values` (row-major), named after `hint`.
    public mutating func constant(_ values: [Float], shape: [Int], hint: String = "const") -> String {
        precondition(values.count == shape.reduce(1, *), "ONNXGraph.constant: \(values.count) values for shape \(shape)")
        var tensor = Onnx_TensorProto()
        tensor.name = fresh(hint)
        tensor.dataType = Int32(Onnx_TensorProto.DataType.float.rawValue)
        tensor.dims = shape.map(Int64.init)
        tensor.rawData = values.withUnsafeBufferPointer { buffer in
            Data(buffer.map(\.bitPattern.littleEndian).withUnsafeBytes { Data($0) })
        }
        graph.initializer.append(tensor)
        return tensor.name
    }

    /// An int64 constant of `shape` holding `values` (shapes, axes, indices); shape [] is a scalar.
    public mutating func constant(int64 values: [Int], shape: [Int]? = nil, hint: String = "ints") -> String {
        var tensor = Onnx_TensorProto()
        tensor.name = fresh(hint)
        tensor.dataType = Int32(Onnx_TensorProto.DataType.int64.rawValue)
        tensor.dims = (shape ?? [values.count]).map(Int64.init)
        tensor.rawData = Data(values.map { Int64($0).littleEndian }.withUnsafeBytes { Data($0) })
        graph.initializer.append(tensor)
        return tensor.name
    }

    /// Adds a node running operator `op` on `inputs` (value names; "" for an omitted optional
    /// input) with `attributes`, and returns the names of its `outputs` outputs.
    @discardableResult
    public mutating func nodes(_ op: String, _ inputs: [String], _ attributes: [String: Attribute] = [:], outputs: Int) -> [String] {
        var node = Onnx_NodeProto()
        node.opType = op
        node.name = fresh(op)
        node.input = inputs
        node.output = (0 ..< outputs).map { _ in fresh(op.lowercased()) }
        node.attribute = attributes.sorted { $0.key < $1.key }.map { name, value in
            var attribute = Onnx_AttributeProto()
            attribute.name = name
            switch value {
            case let .int(v): (attribute.type, attribute.i) = (.int, Int64(v))
            case let .ints(v): (attribute.type, attribute.ints) = (.ints, v.map(Int64.init))
            case let .float(v): (attribute.type, attribute.f) = (.float, v)
            case let .string(v): (attribute.type, attribute.s) = (.string, Data(v.utf8))
            }
            return attribute
        }
        graph.node.append(node)
        return node.output
    }

    /// Adds a node running operator `op` on `inputs` with `attributes` and returns its one output.
    public mutating func node(_ op: String, _ inputs: [String], _ attributes: [String: Attribute] = [:]) -> String {
        nodes(op, inputs, attributes, outputs: 1)[0]
    }

    /// The number of nodes so far.
    public var nodeCount: Int { graph.node.count }

    /// The ONNX model file of this graph: IR version `irVersion`, the default operator set at
    /// `opset`, `metadata` as the model's metadata properties (sorted by key), and the producer's
    /// name and version.
    /// - Throws: swift-protobuf's encoding error.
    public func serializedModel(metadata: [String: String], producer: String, version: String, doc: String) throws -> Data {
        var model = Onnx_ModelProto()
        model.irVersion = Self.irVersion
        model.producerName = producer
        model.producerVersion = version
        model.docString = doc
        var opset = Onnx_OperatorSetIdProto()
        opset.domain = ""
        opset.version = Self.opset
        model.opsetImport = [opset]
        model.graph = graph
        model.metadataProps = metadata.sorted { $0.key < $1.key }.map { key, value in
            var entry = Onnx_StringStringEntryProto()
            (entry.key, entry.value) = (key, value)
            return entry
        }
        return try model.serializedData()
    }

    private static func valueInfo(_ name: String, elementType: Onnx_TensorProto.DataType, dimensions: [String], doc: String) -> Onnx_ValueInfoProto {
        var info = Onnx_ValueInfoProto()
        info.name = name
        info.docString = doc
        var tensor = Onnx_TypeProto.Tensor()
        tensor.elemType = Int32(elementType.rawValue)
        var shape = Onnx_TensorShapeProto()
        shape.dim = dimensions.map { text in
            var dimension = Onnx_TensorShapeProto.Dimension()
            if let value = Int64(text) { dimension.dimValue = value } else { dimension.dimParam = text }
            return dimension
        }
        tensor.shape = shape
        info.type.tensorType = tensor
        return info
    }
}
