using Google.Protobuf;
using Onnx;
using TorchSharp;
using static TorchSharp.torch;

namespace AvBert.Export.Onnx;

/// <summary>
/// A small builder over OnnxSharp's protobuf classes (<see cref="GraphProto"/>, <see cref="NodeProto"/>,
/// <see cref="TensorProto"/>): nodes with fresh output names, weights as float32 initializers (a tensor given twice is
/// stored once, so weights shared across layers or Transformers stay shared in the file), int64 constants, and the
/// shape helpers the dynamic batch and clip axes need. Opset 17 (LayerNormalization; Reduce* take axes as attributes).
/// </summary>
public sealed class OnnxGraph
{
    public const int Opset = 17;

    readonly GraphProto graph = new() { Name = "avbert" };
    readonly Dictionary<Tensor, string> initializers = new(ReferenceEqualityComparer.Instance);
    readonly HashSet<string> names = [];
    readonly Dictionary<string, string> constants = [];
    readonly Dictionary<object, Dictionary<string, string>> derived = new(ReferenceEqualityComparer.Instance);
    int counter;

    string Fresh(string hint)
    {
        var name = hint;
        while (!names.Add(name)) name = $"{hint}_{++counter}";
        return name;
    }

    /// <summary>A float32 weight (a copy of <paramref name="t"/>'s values), once per tensor object.</summary>
    public string Weight(Tensor t, string name)
    {
        if (initializers.TryGetValue(t, out var existing)) return existing;
        return initializers[t] = AddWeight(t, name);
    }

    /// <summary>
    /// A weight computed at export time from <paramref name="source"/> (a transposed matrix, a Σ folded into U, a BOS row):
    /// made once per source object and <paramref name="tag"/>, so a shared weight stays one initializer.
    /// </summary>
    public string Derived(object source, string tag, string name, Func<Tensor> make)
    {
        if (!derived.TryGetValue(source, out var byTag)) derived[source] = byTag = [];
        if (byTag.TryGetValue(tag, out var id)) return id;
        using var _ = no_grad();
        using var t = make();
        return byTag[tag] = AddWeight(t, name);
    }

    string AddWeight(Tensor t, string name)
    {
        var id = Fresh(name);
        using var data = t.detach().to(float32).cpu().contiguous();
        var proto = new TensorProto { Name = id, DataType = (int)TensorProto.Types.DataType.Float, RawData = ByteString.CopyFrom(data.bytes) };
        proto.Dims.AddRange(data.shape);
        graph.Initializer.Add(proto);
        return id;
    }

    /// <summary>An int64 vector constant (shapes, axes, slice bounds), shared by value.</summary>
    public string Ints(params long[] values)
    {
        var key = "i:" + string.Join(",", values);
        if (constants.TryGetValue(key, out var id)) return id;
        id = Fresh("const_" + string.Join("_", values.Select(v => v < 0 ? "m" + -v : v.ToString(System.Globalization.CultureInfo.InvariantCulture))));
        var proto = new TensorProto { Name = id, DataType = (int)TensorProto.Types.DataType.Int64 };
        proto.Dims.Add(values.Length);
        proto.Int64Data.AddRange(values);
        graph.Initializer.Add(proto);
        return constants[key] = id;
    }

    /// <summary>A float32 scalar constant.</summary>
    public string Scalar(float value)
    {
        var key = "f:" + BitConverter.SingleToInt32Bits(value);
        if (constants.TryGetValue(key, out var id)) return id;
        id = Fresh("const_f");
        var proto = new TensorProto { Name = id, DataType = (int)TensorProto.Types.DataType.Float };
        proto.FloatData.Add(value);
        graph.Initializer.Add(proto);
        return constants[key] = id;
    }

    /// <summary>One node with one output; attributes are long, float, long[] or string.</summary>
    public string Node(string op, string[] inputs, string? hint = null, params (string Name, object Value)[] attributes)
    {
        var output = Fresh(hint ?? op.ToLowerInvariant());
        var node = new NodeProto { OpType = op, Name = output };
        node.Input.AddRange(inputs);
        node.Output.Add(output);
        foreach (var (name, value) in attributes) node.Attribute.Add(Attribute(name, value));
        graph.Node.Add(node);
        return output;
    }

    static AttributeProto Attribute(string name, object value)
    {
        var a = new AttributeProto { Name = name };
        switch (value)
        {
            case long l: a.Type = AttributeProto.Types.AttributeType.Int; a.I = l; break;
            case int i: a.Type = AttributeProto.Types.AttributeType.Int; a.I = i; break;
            case float f: a.Type = AttributeProto.Types.AttributeType.Float; a.F = f; break;
            case double d: a.Type = AttributeProto.Types.AttributeType.Float; a.F = (float)d; break;
            case long[] ls: a.Type = AttributeProto.Types.AttributeType.Ints; a.Ints.AddRange(ls); break;
            case string s: a.Type = AttributeProto.Types.AttributeType.String; a.S = ByteString.CopyFromUtf8(s); break;
            default: throw new ArgumentException($"attribute {name}: unsupported value {value.GetType().Name}");
        }
        return a;
    }

    /// <summary>Renames the value <paramref name="value"/> to the graph output <paramref name="name"/> (an Identity node).</summary>
    public void Output(string value, string name, params string?[] dims)
    {
        graph.Node.Add(new NodeProto { OpType = "Identity", Name = name + "_out", Input = { value }, Output = { name } });
        graph.Output.Add(ValueInfo(name, dims));
    }

    /// <summary>A float32 graph input; a null dim is dynamic and named by <paramref name="dims"/>' string.</summary>
    public string Input(string name, params string?[] dims)
    {
        names.Add(name);
        graph.Input.Add(ValueInfo(name, dims));
        return name;
    }

    /// <summary>Dims: a number is fixed, any other string a named dynamic axis, null an unnamed one.</summary>
    static ValueInfoProto ValueInfo(string name, string?[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(long.TryParse(d, out var v) ? new TensorShapeProto.Types.Dimension { DimValue = v }
                          : d is null ? new TensorShapeProto.Types.Dimension() : new TensorShapeProto.Types.Dimension { DimParam = d });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }

    // ---- helpers ----

    /// <summary>x's size along <paramref name="axis"/> as a 1-element int64 tensor.</summary>
    public string Dim(string x, int axis) => Node("Shape", [x], "dim", ("start", (long)axis), ("end", (long)axis + 1));

    public string Concat(int axis, params string[] inputs) => Node("Concat", inputs, "concat", ("axis", (long)axis));

    /// <summary>Reshape to a shape assembled from 1-element int64 tensors (constants or <see cref="Dim"/>s).</summary>
    public string Reshape(string x, params string[] dims) => Node("Reshape", [x, dims.Length == 1 ? dims[0] : Concat(0, dims)], "reshape");

    public string Slice(string x, string start, string end, long axis) => Node("Slice", [x, start, end, Ints(axis)], "slice");

    public string Transpose(string x, params long[] perm) => Node("Transpose", [x], "transpose", ("perm", perm));

    public string Add(string a, string b) => Node("Add", [a, b], "add");
    public string Relu(string x) => Node("Relu", [x], "relu");

    /// <summary>x [..., in] · Wᵀ (+ b): a Linear's weight [out, in] transposed once at export.</summary>
    public string Linear(string x, Tensor weight, Tensor? bias, string name)
    {
        var w = Derived(weight, "t", name + ".weight_t", () => weight.detach().t().contiguous());
        var y = Node("MatMul", [x, w], name);
        return bias is null ? y : Add(y, Weight(bias, name + ".bias"));
    }

    public string LayerNorm(string x, Tensor weight, Tensor bias, double eps, string name) =>
        Node("LayerNormalization", [x, Weight(weight, name + ".weight"), Weight(bias, name + ".bias")], name, ("axis", -1L), ("epsilon", (float)eps));

    public ModelProto ToModel(string producerVersion, IReadOnlyDictionary<string, string> metadata)
    {
        var model = new ModelProto
        {
            IrVersion = 8, ProducerName = "AVBERT.NET", ProducerVersion = producerVersion, Graph = graph,
            DocString = "AVBERT (Lee et al., ICLR 2021) forward pass, exported by `avbert export --format onnx` (docs/export.md).",
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        foreach (var (k, v) in metadata) model.MetadataProps.Add(new StringStringEntryProto { Key = k, Value = v });
        return model;
    }
}
